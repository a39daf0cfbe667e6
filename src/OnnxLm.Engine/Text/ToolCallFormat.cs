namespace OnnxLm.Engine.Text;

/// <summary>
/// How a model family writes tool calls: the literal text around each call's name and arguments, the trigger that
/// opens a call in free text, and the marker strings that may be single added tokens of the vocabulary. One entry per
/// format (<see cref="All"/>); the constrained decoder (<c>ToolCallGrammar</c>) and the response parser
/// (<see cref="ToolCallParser"/>) are both driven by this table, so what the mask allows is exactly what the parser reads.
/// Invariants: <see cref="Trigger"/> is a prefix of <see cref="First"/>; <see cref="NameEnd"/> starts with a byte no tool
/// name holds (<c>"</c> or a newline), so the names followed by it are prefix-free; the arguments are one minified JSON
/// object between <see cref="NameEnd"/> and <see cref="Next"/> / <see cref="Last"/>.
/// </summary>
public sealed class ToolCallFormat
{
    ToolCallFormat(string name, string trigger, string first, string nameEnd, string next, string last, string[] markers, bool shortIds = false)
    {
        Name = name;
        Trigger = trigger;
        First = first;
        NameEnd = nameEnd;
        Next = next;
        Last = last;
        Markers = markers;
        ShortIds = shortIds;
    }

    /// <summary>The <c>--tool-call-format</c> spelling.</summary>
    public string Name { get; }

    /// <summary>What starts a call in free text (<c>tool_choice: auto</c>).</summary>
    public string Trigger { get; }

    /// <summary>From the start of the first call to its name.</summary>
    public string First { get; }

    /// <summary>From the end of a name to its arguments.</summary>
    public string NameEnd { get; }

    /// <summary>From the end of a call's arguments to the next call's name (parallel calls).</summary>
    public string Next { get; }

    /// <summary>From the end of the last call's arguments to the end of the output.</summary>
    public string Last { get; }

    /// <summary>Marker strings written as one token when the vocabulary has them as added tokens.</summary>
    public string[] Markers { get; }

    /// <summary>Call ids are Mistral's 9 alphanumeric characters rather than <c>call_…</c>.</summary>
    public bool ShortIds { get; }

    public override string ToString() => Name;

    /// <summary>Hermes / Qwen 2.5 / Qwen3: <c>&lt;tool_call&gt;\n{"name": "f", "arguments": {...}}\n&lt;/tool_call&gt;</c>, one block per call.</summary>
    public static readonly ToolCallFormat Hermes = new("hermes", "<tool_call>",
        "<tool_call>\n{\"name\": \"", "\", \"arguments\": ", "}\n</tool_call>\n<tool_call>\n{\"name\": \"", "}\n</tool_call>",
        ["<tool_call>", "</tool_call>"]);

    /// <summary>Llama 3.1 / 3.2 JSON tool calling: <c>{"name": "f", "parameters": {...}}</c>, calls separated by <c>"; "</c>.</summary>
    public static readonly ToolCallFormat Llama3 = new("llama3", "{\"name\": \"",
        "{\"name\": \"", "\", \"parameters\": ", "}; {\"name\": \"", "}", []);

    /// <summary>Mistral v0.3: <c>[TOOL_CALLS] [{"name": "f", "arguments": {...}}, ...]</c>, 9-character call ids.</summary>
    public static readonly ToolCallFormat Mistral = new("mistral", "[TOOL_CALLS]",
        "[TOOL_CALLS] [{\"name\": \"", "\", \"arguments\": ", "}, {\"name\": \"", "}]", ["[TOOL_CALLS]"], shortIds: true);

    /// <summary>Phi-4-mini: <c>&lt;|tool_call|&gt;[{"name": "f", "arguments": {...}}]&lt;|/tool_call|&gt;</c>.</summary>
    public static readonly ToolCallFormat Phi4Mini = new("phi4-mini", "<|tool_call|>",
        "<|tool_call|>[{\"name\": \"", "\", \"arguments\": ", "}, {\"name\": \"", "}]<|/tool_call|>", ["<|tool_call|>", "<|/tool_call|>"]);

    /// <summary>DeepSeek-R1 / V3: <c>&lt;｜tool▁calls▁begin｜&gt;&lt;｜tool▁call▁begin｜&gt;function&lt;｜tool▁sep｜&gt;f\n```json\n{...}\n```&lt;｜tool▁call▁end｜&gt;…&lt;｜tool▁calls▁end｜&gt;</c>.</summary>
    public static readonly ToolCallFormat DeepSeekR1 = new("deepseek-r1", "<｜tool▁calls▁begin｜>",
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>", "\n```json\n",
        "\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>", "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        ["<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>", "<｜tool▁calls▁end｜>"]);

    /// <summary>For templates with no known format: <c>{"tool_calls": [{"name": "f", "arguments": {...}}]}</c>.</summary>
    public static readonly ToolCallFormat Generic = new("generic", "{\"tool_calls\": [",
        "{\"tool_calls\": [{\"name\": \"", "\", \"arguments\": ", "}, {\"name\": \"", "}]}", []);

    public static IReadOnlyList<ToolCallFormat> All { get; } = [Hermes, Llama3, Mistral, Phi4Mini, DeepSeekR1, Generic];

    /// <summary>The format named <paramref name="name"/> (case-insensitive), or null.</summary>
    public static ToolCallFormat? Find(string name) => All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The format a model was trained on, from its chat template's text (which spells the markers it renders earlier
    /// calls with) and then its vocabulary's added tokens; <see cref="Generic"/> when neither names one.
    /// </summary>
    public static ToolCallFormat Detect(string? template, TokenVocabulary? vocabulary)
    {
        ToolCallFormat[] byMarker = [DeepSeekR1, Mistral, Phi4Mini, Hermes];
        if (template is not null)
        {
            foreach (var f in byMarker)
                if (template.Contains(f.Trigger, StringComparison.Ordinal)) return f;
            // Llama 3.x: the ipython environment and "parameters" of its JSON calls.
            if (template.Contains("<|python_tag|>", StringComparison.Ordinal) || (template.Contains("<|eot_id|>", StringComparison.Ordinal) && template.Contains("parameters", StringComparison.Ordinal)))
                return Llama3;
        }
        if (vocabulary is not null)
        {
            foreach (var f in byMarker)
                if (vocabulary.FindToken(f.Trigger) is not null) return f;
            if (vocabulary.FindToken("<|python_tag|>") is not null) return Llama3;
        }
        return Generic;
    }
}
