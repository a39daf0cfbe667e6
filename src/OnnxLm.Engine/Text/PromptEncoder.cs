using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxLm.Engine.Text;

/// <summary>
/// Prompt side of the text pipeline: GenAI's tokenizer encodes text and applies the model's chat template
/// (tokenizer_config.json). Decoding is ours (<see cref="IncrementalDetokenizer"/>, docs/ENGINE.md §7). Calls are serialised:
/// the native tokenizer is not documented as thread-safe, and encoding is short next to a model run.
/// </summary>
public sealed class PromptEncoder : IDisposable
{
    readonly Tokenizer tokenizer;
    readonly Lock gate = new();

    /// <param name="chatTemplateFile">An explicit template (<c>--chat-template</c>); null = the model folder's own.</param>
    /// <param name="textBosTokenId">What a raw-text prompt starts with (<see cref="BosPolicy"/>); -1 for nothing.</param>
    public PromptEncoder(string modelDir, string? chatTemplateFile = null, int textBosTokenId = -1)
    {
        ChatTemplate = ChatTemplateSource.Resolve(modelDir, chatTemplateFile);
        TextBosTokenId = textBosTokenId;
        try
        {
            tokenizer = new Tokenizer(modelDir);
        }
        catch (OnnxRuntimeGenAIException e)
        {
            throw new ModelFormatException($"{modelDir}: the tokenizer could not be loaded: {e.Message}");
        }
    }

    /// <summary>The id <see cref="EncodeText"/> puts first (<see cref="BosPolicy"/>), or -1.</summary>
    public int TextBosTokenId { get; }

    /// <summary>A raw-text prompt as Hugging Face's <c>tokenizer(text)</c> encodes it: BOS first when the model's
    /// tokenizer adds one, but never twice (a prompt that already starts with the BOS token, e.g. a template rendered by
    /// the client, keeps just its own).</summary>
    public int[] EncodeText(string text)
    {
        int[] ids = Encode(text);
        if (TextBosTokenId < 0 || (ids.Length > 0 && ids[0] == TextBosTokenId)) return ids;
        var withBos = new int[ids.Length + 1];
        withBos[0] = TextBosTokenId;
        ids.CopyTo(withBos, 1);
        return withBos;
    }

    /// <summary>Encodes text as it is: no BOS or other special token is added (chat prompts carry the template's own).</summary>
    public int[] Encode(string text)
    {
        lock (gate)
        {
            using var seqs = tokenizer.Encode(text);
            return seqs[0].ToArray();
        }
    }

    /// <summary>The chat template in use and where it came from (<see cref="ChatTemplateSource"/>).</summary>
    public ChatTemplateSource ChatTemplate { get; }

    /// <summary>Renders OpenAI-style messages (a JSON array of message objects, passed whole to the template) with the
    /// model's chat template, adding the assistant generation prompt. <paramref name="toolsJson"/> is the request's
    /// <c>tools</c> array as the client sent it (OpenAI's <c>[{"type":"function","function":{...}}]</c>), the shape
    /// transformers hands to the template as <c>tools</c>. GenAI's own <c>tools</c> argument is not used: for some
    /// templates (Llama 3.x's <c>t | tojson</c>) it rewrites each entry into a flattened <c>{"name",...}</c> shape, so the
    /// array is bound in the template itself (<see cref="WithTools"/>) and every template sees exactly what it was given.</summary>
    /// <exception cref="ChatTemplateException">The model has no template, or the template raised or could not be parsed.</exception>
    public string ApplyChatTemplate(string messagesJson, bool addGenerationPrompt = true, string? toolsJson = null)
    {
        if (ChatTemplate.Template is not { } template)
            throw new ChatTemplateException(
                "this model has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja, no --chat-template): use /v1/completions with a prompt, or start the server with --chat-template FILE",
                missing: true);
        try
        {
            lock (gate)
                return tokenizer.ApplyChatTemplate(toolsJson is null ? template : WithTools(template, toolsJson), messagesJson, null, addGenerationPrompt);
        }
        catch (OnnxRuntimeGenAIException e)
        {
            throw new ChatTemplateException(TemplateMessage(e.Message), missing: false);
        }
    }

    /// <summary>
    /// The template with <c>tools</c> bound to <paramref name="toolsJson"/> before its first line. A JSON array is a Jinja
    /// literal (true/false/null are the Jinja spellings too); the JSON must use only the escapes Jinja strings share with
    /// JSON (<c>\"</c>, <c>\\</c>, <c>\n</c>, <c>\t</c>, <c>\r</c>, <c>\uXXXX</c>), which minified System.Text.Json output does.
    /// The tag prints nothing and is closed without a trim, so the template's own first character is kept.
    /// </summary>
    internal static string WithTools(string template, string toolsJson) => "{%- set tools = " + toolsJson + " %}" + template;

    /// <summary>
    /// GenAI's renderer appends a stack of template excerpts (" at row R, column C:\n    {%- … -%}\n    ^ …") to the
    /// template's own message; a client needs the message and where it was raised.
    /// </summary>
    internal static string TemplateMessage(string raw)
    {
        string first = raw.Split('\n', 2)[0].TrimEnd();
        var at = System.Text.RegularExpressions.Regex.Match(first, @"^(?<msg>.*?) at row (?<row>\d+), column (?<col>\d+):?$");
        string message = at.Success ? at.Groups["msg"].Value : first;
        if (message.Length == 0) message = "the chat template could not be rendered";
        return at.Success
            ? $"chat template error: {message} (template line {at.Groups["row"].Value}, column {at.Groups["col"].Value})"
            : $"chat template error: {message}";
    }

    public void Dispose()
    {
        // Under the gate: a handler may still be encoding while the server shuts down.
        lock (gate) tokenizer.Dispose();
    }
}
