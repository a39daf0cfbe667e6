using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxLm.Engine.Text;

/// <summary>
/// Prompt side of the text pipeline: GenAI's tokenizer encodes text and applies the model's chat template
/// (tokenizer_config.json). Decoding is ours (<see cref="IncrementalDetokenizer"/>, ENGINE.md §6). Calls are serialised:
/// the native tokenizer is not documented as thread-safe, and encoding is short next to a model run.
/// </summary>
public sealed class PromptEncoder : IDisposable
{
    readonly Tokenizer tokenizer;
    readonly Lock gate = new();

    public PromptEncoder(string modelDir)
    {
        try
        {
            tokenizer = new Tokenizer(modelDir);
        }
        catch (OnnxRuntimeGenAIException e)
        {
            throw new Model.ModelFormatException($"{modelDir}: the tokenizer could not be loaded: {e.Message}");
        }
    }

    public int[] Encode(string text)
    {
        lock (gate)
        {
            using var seqs = tokenizer.Encode(text);
            return seqs[0].ToArray();
        }
    }

    /// <summary>Renders OpenAI-style messages (a JSON array of {role, content}) with the model's chat template, adding the
    /// assistant generation prompt.</summary>
    public string ApplyChatTemplate(string messagesJson, bool addGenerationPrompt = true)
    {
        lock (gate)
            return tokenizer.ApplyChatTemplate(null, messagesJson, null, addGenerationPrompt);
    }

    public void Dispose()
    {
        // Under the gate: a handler may still be encoding while the server shuts down.
        lock (gate) tokenizer.Dispose();
    }
}
