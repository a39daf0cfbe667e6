using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Constraints;

/// <summary>When the model may or must call a tool (OpenAI's <c>tool_choice</c>).</summary>
public enum ToolChoiceMode : byte
{
    /// <summary>Free text; a start marker that is one token is masked.</summary>
    None,
    /// <summary>Free text until the format's trigger, then a call is enforced.</summary>
    Auto,
    /// <summary>A call from the first token.</summary>
    Required,
}

/// <summary>
/// One request's tool-call language over one vocabulary: the format's literal text as symbols (a byte, or one added
/// token for a marker the vocabulary has), the allowed tool names, and each tool's compiled arguments grammar.
/// A call is <c>First name NameEnd arguments</c>, followed by <c>Next name NameEnd arguments</c> (parallel calls) or
/// <c>Last</c>. Immutable; shared by the <see cref="ToolCallMatcher"/>s of the request's choices.
/// Invariants: the candidates of each literal choice are prefix-free except that <c>Last</c> may be a prefix of a
/// <c>Next</c> candidate (a point where EOS or another call may follow); every arguments grammar's root is an object, so
/// a finished arguments value cannot be extended.
/// </summary>
public sealed class ToolCallGrammar
{
    /// <summary>A candidate's target: the tool whose arguments follow, or <see cref="End"/>.</summary>
    internal const int End = -1;

    /// <summary>Symbols at or above this are <c>TokenSymbol + id</c>: exactly that token.</summary>
    internal const int TokenSymbol = 256;

    static readonly ConditionalWeakTable<TokenTrie, ConcurrentDictionary<string, ulong[]>> containing = new();

    /// <param name="names">The tools the output may call (allowed_tools / a named choice narrow the request's list).</param>
    /// <param name="arguments">Each tool's compiled parameters schema; the root must be an object.</param>
    /// <param name="response">The text answer's grammar (<c>response_format</c>) when no call is made, or null.</param>
    public ToolCallGrammar(ToolCallFormat format, TokenTrie trie, IReadOnlyList<string> names, IReadOnlyList<JsonGrammar> arguments,
        ToolChoiceMode mode, bool parallel, JsonGrammar? response = null)
    {
        if (names.Count == 0 || names.Count != arguments.Count) throw new ArgumentException("one grammar per tool, at least one tool");
        for (int i = 0; i < arguments.Count; i++)
        {
            if (arguments[i].Nodes[arguments[i].Root].Kind != GrammarNodeKind.Object)
                throw new SchemaNotSupportedException("type", "", $"the parameters of '{names[i]}' must be an object schema.");
        }
        Format = format;
        Trie = trie;
        Names = [.. names];
        Arguments = [.. arguments];
        Mode = mode;
        Parallel = parallel;
        Response = response;
        var vocabulary = trie.Vocabulary;
        int[] nameEnd = Symbols(format.NameEnd, format, vocabulary);
        First = new int[names.Count][];
        var after = new List<int[]>();
        var afterTargets = new List<int>();
        for (int i = 0; i < names.Count; i++)
        {
            byte[] name = Encoding.UTF8.GetBytes(names[i]);
            First[i] = [.. Symbols(format.First, format, vocabulary), .. name.Select(b => (int)b), .. nameEnd];
            if (parallel)
            {
                after.Add([.. Symbols(format.Next, format, vocabulary), .. name.Select(b => (int)b), .. nameEnd]);
                afterTargets.Add(i);
            }
        }
        after.Add(Symbols(format.Last, format, vocabulary));
        afterTargets.Add(End);
        After = [.. after];
        AfterTargets = [.. afterTargets];
        int[] trigger = Symbols(format.Trigger, format, vocabulary);
        TriggerLength = trigger.Length;
        if (trigger.Length == 1 && trigger[0] >= TokenSymbol)
        {
            TriggerToken = trigger[0] - TokenSymbol;
        }
        else if (trigger.All(s => s < TokenSymbol))
        {
            TriggerBytes = [.. trigger.Select(s => (byte)s)];
            TriggerFailure = Failure(TriggerBytes);
            ContainingTrigger = containing.GetOrCreateValue(trie).GetOrAdd(format.Trigger, _ => Containing(trie, TriggerBytes));
            AnyContainsTrigger = ContainingTrigger.AsSpan().ContainsAnyExcept(0UL);
        }
        MaxCandidates = Math.Max(First.Length, After.Length);
    }

    /// <summary>Whether a compiled parameters schema is an object (what a call's arguments must be).</summary>
    public static bool IsObjectGrammar(JsonGrammar grammar) => grammar.Nodes[grammar.Root].Kind == GrammarNodeKind.Object;

    public ToolCallFormat Format { get; }
    public TokenTrie Trie { get; }
    public string[] Names { get; }
    internal JsonGrammar[] Arguments { get; }
    public ToolChoiceMode Mode { get; }
    public bool Parallel { get; }
    internal JsonGrammar? Response { get; }

    /// <summary>Per tool: the symbols from the start of the first call to its arguments.</summary>
    internal int[][] First { get; }

    /// <summary>After a call's arguments: the next call's lead-in per tool (parallel only), then <c>Last</c>.</summary>
    internal int[][] After { get; }
    internal int[] AfterTargets { get; }
    internal int MaxCandidates { get; }

    /// <summary>The trigger's length in symbols (the part of <see cref="First"/> free text has produced when it fires).</summary>
    internal int TriggerLength { get; }

    /// <summary>The trigger as one token id, or -1.</summary>
    internal int TriggerToken { get; } = -1;

    /// <summary>The trigger as bytes (no added token spells it), else null.</summary>
    internal byte[]? TriggerBytes { get; }

    /// <summary>KMP failure function of <see cref="TriggerBytes"/>.</summary>
    internal int[]? TriggerFailure { get; }

    /// <summary>Tokens whose bytes hold the whole trigger followed by more bytes (they would start a call mid-token).</summary>
    internal ulong[]? ContainingTrigger { get; }

    /// <summary>Some token is in <see cref="ContainingTrigger"/> (usually none: then free text costs nothing).</summary>
    internal bool AnyContainsTrigger { get; }

    /// <summary>A literal as symbols: each marker the vocabulary has as an added token is that token, the rest UTF-8 bytes.</summary>
    internal static int[] Symbols(string text, ToolCallFormat format, TokenVocabulary vocabulary)
    {
        var symbols = new List<int>();
        int i = 0;
        while (i < text.Length)
        {
            string? marker = format.Markers.FirstOrDefault(m => string.CompareOrdinal(text, i, m, 0, m.Length) == 0 && vocabulary.FindToken(m) is not null);
            if (marker is not null)
            {
                symbols.Add(TokenSymbol + vocabulary.FindToken(marker)!.Value);
                i += marker.Length;
                continue;
            }
            int length = char.IsSurrogatePair(text, i) ? 2 : 1;
            foreach (byte b in Encoding.UTF8.GetBytes(text.Substring(i, length))) symbols.Add(b);
            i += length;
        }
        return [.. symbols];
    }

    static int[] Failure(byte[] pattern)
    {
        var f = new int[pattern.Length + 1];
        int k = 0;
        for (int i = 1; i < pattern.Length; i++)
        {
            while (k > 0 && pattern[i] != pattern[k]) k = f[k];
            if (pattern[i] == pattern[k]) k++;
            f[i + 1] = k;
        }
        return f;
    }

    static ulong[] Containing(TokenTrie trie, byte[] trigger)
    {
        var bits = new ulong[(trie.VocabularySize + 63) >> 6];
        var vocabulary = trie.Vocabulary;
        for (int id = 0; id < trie.VocabularySize; id++)
        {
            if (!vocabulary.IsDefined(id) || vocabulary.IsSpecial(id)) continue;
            ReadOnlySpan<byte> bytes = vocabulary.GetBytes(id);
            int at = bytes.IndexOf(trigger);
            if (at >= 0 && at + trigger.Length < bytes.Length) bits[id >> 6] |= 1UL << id;
        }
        return bits;
    }
}
