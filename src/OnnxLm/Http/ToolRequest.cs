using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Engine.Text;
using OnnxLm.Http.Parsing;

namespace OnnxLm.Http;

/// <summary>
/// A chat request's <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c>, checked with OpenAI's error shapes:
/// the tools JSON the template receives (the client's array, minified), the tools the output may call, each tool's
/// compiled parameters schema (a keyword the compiler cannot enforce is a 400 naming it and its pointer), and the mode.
/// <see cref="Grammar"/> builds the engine's <see cref="ToolCallGrammar"/> once the <c>response_format</c> grammar is known.
/// </summary>
internal sealed class ToolRequest
{
    ToolRequest(ToolCallFormat format, string templateJson, string[] names, JsonGrammar[] arguments, ToolChoiceMode mode, bool parallel)
    {
        Format = format;
        TemplateJson = templateJson;
        Names = names;
        Arguments = arguments;
        Mode = mode;
        Parallel = parallel;
    }

    public ToolCallFormat Format { get; }

    /// <summary>For a template that never reads <c>tools</c>: the definitions and how to call them, as system text
    /// (null with <c>tool_choice: none</c>, where no call can be made).</summary>
    public string? Instructions => Mode == ToolChoiceMode.None ? null :
        "You can call these functions (JSON definitions):\n" + TemplateJson + "\nTo call " + (Parallel ? "functions" : "a function")
        + ", reply with exactly: " + Format.First + "FUNCTION_NAME" + Format.NameEnd + "{ARGUMENTS AS JSON}" + Format.Last
        + (Parallel ? " (for several calls: " + Format.First + "…" + Format.Next + "…" + Format.Last + ")" : "") + ".";

    /// <summary>The <c>tools</c> array as the chat template receives it.</summary>
    public string TemplateJson { get; }

    /// <summary>The tools the output may call (a named choice or <c>allowed_tools</c> narrows the list).</summary>
    public string[] Names { get; }

    public JsonGrammar[] Arguments { get; }
    public ToolChoiceMode Mode { get; }
    public bool Parallel { get; }

    /// <summary>A parameterless function: its arguments are <c>{}</c>.</summary>
    static ReadOnlySpan<byte> NoParameters => "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"u8;

    /// <summary>The engine's grammar for this request; <paramref name="response"/> holds the text answer (response_format).</summary>
    public ToolCallGrammar Grammar(InferenceEngine engine, JsonGrammar? response) =>
        new(Format, engine.GrammarTrie, Names, Arguments, Mode, Parallel, response);

    /// <summary>Reads the tool fields of <paramref name="r"/>; null when the request has no tools.</summary>
    public static ToolRequest? Read(InferenceEngine engine, ToolCallFormat format, ReadOnlySpan<byte> json, ChatCompletionBody r) =>
        Read(engine, format, json, new ToolFields(r.Tools, r.ToolChoice, r.ParallelToolCalls));

    /// <summary>The tool fields of a body (chat completions, or <c>/tokenize</c>, which renders the same prompt).</summary>
    internal readonly record struct ToolFields(RawJson Tools, RawJson ToolChoice, RawJson ParallelToolCalls);

    /// <summary>Reads <paramref name="r"/>; null when the request has no tools.</summary>
    internal static ToolRequest? Read(InferenceEngine engine, ToolCallFormat format, ReadOnlySpan<byte> json, ToolFields r)
    {
        if (!r.Tools.HasValue)
        {
            if (r.ToolChoice.HasValue && !(r.ToolChoice.TokenType == JsonTokenType.String && r.ToolChoice.RawBytes(json).SequenceEqual("\"none\""u8)))
                throw ApiError.BadRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice");
            return null;
        }
        using var doc = JsonDocument.Parse(r.Tools.RawBytes(json).ToArray());
        var tools = doc.RootElement;
        if (tools.ValueKind != JsonValueKind.Array)
            throw ApiError.BadRequest($"Invalid type for 'tools': expected an array of objects, but got {Kind(tools)} instead.", "tools", "invalid_type");
        if (tools.GetArrayLength() == 0)
            throw ApiError.BadRequest("Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", "tools", "empty_array");
        if (tools.GetArrayLength() > 128)
            throw ApiError.BadRequest($"Invalid 'tools': array too long. Expected an array with maximum length 128, but got an array with length {tools.GetArrayLength()} instead.", "tools", "array_above_max_length");
        var names = new List<string>();
        var grammars = new List<JsonGrammar>();
        int i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            string at = $"tools[{i}]";
            if (tool.ValueKind != JsonValueKind.Object)
                throw ApiError.BadRequest($"Invalid type for '{at}': expected an object, but got {Kind(tool)} instead.", at, "invalid_type");
            if (!tool.TryGetProperty("type"u8, out var type) || type.ValueKind != JsonValueKind.String)
                throw Missing($"{at}.type");
            if (!type.ValueEquals("function"u8))
                throw ApiError.BadRequest($"Invalid value: '{type}'. Supported values are: 'function'.", $"{at}.type", "invalid_value");
            if (!tool.TryGetProperty("function"u8, out var function) || function.ValueKind != JsonValueKind.Object)
                throw Missing($"{at}.function");
            if (!function.TryGetProperty("name"u8, out var nameValue) || nameValue.ValueKind != JsonValueKind.String)
                throw Missing($"{at}.function.name");
            string name = nameValue.GetString()!;
            if (!ValidName(name))
                throw ApiError.BadRequest($"Invalid '{at}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'.",
                    $"{at}.function.name", "invalid_value");
            if (names.Contains(name))
                throw ApiError.BadRequest($"Invalid 'tools': the function name '{name}' appears more than once.", $"{at}.function.name", "invalid_value");
            if (function.TryGetProperty("description"u8, out var description) && description.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                throw ApiError.BadRequest($"Invalid type for '{at}.function.description': expected a string, but got {Kind(description)} instead.", $"{at}.function.description", "invalid_type");
            if (function.TryGetProperty("strict"u8, out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
                throw ApiError.BadRequest($"Invalid type for '{at}.function.strict': expected a boolean, but got {Kind(strict)} instead.", $"{at}.function.strict", "invalid_type");
            ReadOnlySpan<byte> schema = NoParameters;
            if (function.TryGetProperty("parameters"u8, out var parameters) && parameters.ValueKind != JsonValueKind.Null)
            {
                if (parameters.ValueKind != JsonValueKind.Object)
                    throw ApiError.BadRequest($"Invalid type for '{at}.function.parameters': expected an object, but got {Kind(parameters)} instead.", $"{at}.function.parameters", "invalid_type");
                // {} means "no parameters" to OpenAI, and so does an object with an empty "properties" (what SDKs send
                // for a parameterless function): without this narrowing the compiler reads it as a map of any keys.
                if (parameters.EnumerateObject().Any() && !DeclaresNoProperties(parameters))
                    schema = System.Text.Encoding.UTF8.GetBytes(parameters.GetRawText());
            }
            grammars.Add(Compile(engine, name, schema, $"{at}.function.parameters"));
            names.Add(name);
            i++;
        }

        var (mode, allowed) = Choice(json, r, names);
        bool parallel = true;
        if (r.ParallelToolCalls.HasValue)
        {
            if (r.ParallelToolCalls.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                throw ApiError.BadRequest("Invalid type for 'parallel_tool_calls': expected a boolean.", "parallel_tool_calls", "invalid_type");
            parallel = r.ParallelToolCalls.TokenType == JsonTokenType.True;
        }
        var chosen = allowed ?? names;
        return new ToolRequest(format, Minified(tools), [.. chosen], [.. chosen.Select(n => grammars[names.IndexOf(n)])], mode, parallel);
    }

    static JsonGrammar Compile(InferenceEngine engine, string name, ReadOnlySpan<byte> schema, string param)
    {
        try
        {
            var grammar = engine.Grammars.GetOrCompile(schema);
            _ = engine.GrammarTrie;   // built on the request thread, not the engine's
            if (!ToolCallGrammar.IsObjectGrammar(grammar))
                throw new SchemaNotSupportedException("type", "", "the parameters of a function must describe an object.");
            return grammar;
        }
        catch (SchemaNotSupportedException e)
        {
            string pointer = e.Pointer.Length == 0 ? "#" : "#" + e.Pointer;
            throw ApiError.BadRequest($"Invalid schema for function '{name}': '{e.Keyword}' at {pointer} cannot be enforced: {e.Reason}", param, "invalid_function_parameters");
        }
    }

    /// <summary>tool_choice: the mode, and the narrowed tool list (null = every tool).</summary>
    static (ToolChoiceMode Mode, List<string>? Allowed) Choice(ReadOnlySpan<byte> json, ToolFields r, List<string> names)
    {
        if (!r.ToolChoice.HasValue) return (ToolChoiceMode.Auto, null);
        using var doc = JsonDocument.Parse(r.ToolChoice.RawBytes(json).ToArray());
        var choice = doc.RootElement;
        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "none" => (ToolChoiceMode.None, null),
                "auto" => (ToolChoiceMode.Auto, null),
                "required" => (ToolChoiceMode.Required, null),
                var other => throw ApiError.BadRequest($"Invalid value: '{other}'. Supported values are: 'none', 'auto', and 'required'.", "tool_choice", "invalid_value"),
            };
        }
        if (choice.ValueKind != JsonValueKind.Object)
            throw ApiError.BadRequest($"Invalid type for 'tool_choice': expected a string or an object, but got {Kind(choice)} instead.", "tool_choice", "invalid_type");
        if (!choice.TryGetProperty("type"u8, out var type) || type.ValueKind != JsonValueKind.String) throw Missing("tool_choice.type");
        if (type.ValueEquals("function"u8))
        {
            string name = FunctionName(choice, "tool_choice");
            if (!names.Contains(name))
                throw ApiError.BadRequest($"Invalid value for 'tool_choice': function '{name}' is not one of the functions in 'tools'.", "tool_choice.function.name", "invalid_value");
            return (ToolChoiceMode.Required, [name]);
        }
        if (type.ValueEquals("allowed_tools"u8))
        {
            if (!choice.TryGetProperty("allowed_tools"u8, out var spec) || spec.ValueKind != JsonValueKind.Object) throw Missing("tool_choice.allowed_tools");
            if (!spec.TryGetProperty("mode"u8, out var modeValue) || modeValue.ValueKind != JsonValueKind.String) throw Missing("tool_choice.allowed_tools.mode");
            var mode = modeValue.GetString() switch
            {
                "auto" => ToolChoiceMode.Auto,
                "required" => ToolChoiceMode.Required,
                var other => throw ApiError.BadRequest($"Invalid value: '{other}'. Supported values are: 'auto' and 'required'.", "tool_choice.allowed_tools.mode", "invalid_value"),
            };
            if (!spec.TryGetProperty("tools"u8, out var list) || list.ValueKind != JsonValueKind.Array) throw Missing("tool_choice.allowed_tools.tools");
            if (list.GetArrayLength() == 0)
                throw ApiError.BadRequest("Invalid 'tool_choice.allowed_tools.tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", "tool_choice.allowed_tools.tools", "empty_array");
            var allowed = new List<string>();
            int k = 0;
            foreach (var entry in list.EnumerateArray())
            {
                string at = $"tool_choice.allowed_tools.tools[{k++}]";
                if (entry.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest($"Invalid type for '{at}': expected an object.", at, "invalid_type");
                string name = FunctionName(entry, at);
                if (!names.Contains(name))
                    throw ApiError.BadRequest($"Invalid value for '{at}': function '{name}' is not one of the functions in 'tools'.", at + ".function.name", "invalid_value");
                if (!allowed.Contains(name)) allowed.Add(name);
            }
            return (mode, allowed);
        }
        throw ApiError.BadRequest($"Invalid value: '{type}'. Supported values are: 'function' and 'allowed_tools'.", "tool_choice.type", "invalid_value");
    }

    static string FunctionName(JsonElement holder, string at)
    {
        if (!holder.TryGetProperty("function"u8, out var function) || function.ValueKind != JsonValueKind.Object) throw Missing($"{at}.function");
        if (!function.TryGetProperty("name"u8, out var name) || name.ValueKind != JsonValueKind.String) throw Missing($"{at}.function.name");
        return name.GetString()!;
    }

    static readonly JsonWriterOptions MinifiedOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The tools array minified, with only the escapes Jinja string literals share with JSON.</summary>
    static string Minified(JsonElement tools)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, MinifiedOptions)) tools.WriteTo(w);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary><c>{"type":"object","properties":{}}</c> and the like: declared properties, none of them, and nothing
    /// else that admits keys (additionalProperties, patternProperties).</summary>
    static bool DeclaresNoProperties(JsonElement parameters) =>
        parameters.TryGetProperty("properties"u8, out var properties) && properties.ValueKind == JsonValueKind.Object
        && !properties.EnumerateObject().Any()
        && !parameters.TryGetProperty("additionalProperties"u8, out _) && !parameters.TryGetProperty("patternProperties"u8, out _)
        && (!parameters.TryGetProperty("type"u8, out var type) || (type.ValueKind == JsonValueKind.String && type.ValueEquals("object"u8)));

    static bool ValidName(string name)
    {
        if (name.Length is 0 or > 64) return false;
        foreach (char c in name)
            if (!(c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-')) return false;
        return true;
    }

    static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    static ApiError Missing(string param) => ApiError.BadRequest($"Missing required parameter: '{param}'.", param, "missing_required_parameter");
}
