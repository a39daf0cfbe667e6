namespace OnnxLm.Engine.Constraints;

internal enum GrammarNodeKind : byte
{
    /// <summary>An object: fixed-order declared properties, or (no declared properties) a map of any keys to one value node.</summary>
    Object,
    /// <summary>An array: prefix items, then items of one node; counts bounded.</summary>
    Array,
    /// <summary>A string with a code-point length range.</summary>
    String,
    /// <summary>Any JSON number (canonical grammar, no whitespace).</summary>
    Number,
    /// <summary>An integer written without fraction or exponent, optionally bounded.</summary>
    Integer,
    /// <summary>One of a set of exact byte strings (enum, const, true/false/null).</summary>
    Literal,
    /// <summary>A choice of nodes decided by the value's first byte (type unions, disjoint anyOf/oneOf).</summary>
    Union,
    /// <summary>A number within [Lo, Hi] in units of 1e-9, written without exponent, at most 9 integer and 9 fraction digits.</summary>
    BoundedNumber,
    /// <summary>A string whose raw content bytes run through a <see cref="RegexDfa"/> (pattern, format).</summary>
    Pattern,
}

/// <summary>One node of a <see cref="JsonGrammar"/>; which fields mean what depends on <see cref="Kind"/>.</summary>
internal struct GrammarNode
{
    public GrammarNodeKind Kind;
    /// <summary>Fewest stack frames a value of this node needs to complete (itself included): pushes are refused when the
    /// value could not complete under <see cref="JsonGrammar.MaxDepth"/>, which keeps every matcher state live.</summary>
    public int MinDepth;
    // Object: first property index, property count, value node for extra keys (-1: none), required count (unused at run time).
    // Array: first prefix index, prefix count, items node (-1: none), minItems; Max = maxItems.
    // String: minLength in A, maxLength in Max.
    // Literal: first literal index, literal count.
    // Union: dispatch offset (256 entries of node ids, -1 = not allowed).
    // Integer: Lo/Hi bounds, HasLo/HasHi in A/B.
    public int A;
    public int B;
    public int C;
    public int D;
    public int Max;
    public long Lo;
    public long Hi;
}

/// <summary>
/// A JSON schema compiled to a deterministic pushdown grammar over bytes: a value is a node, a nested value a pushed
/// frame. Immutable once built and independent of any vocabulary, so one instance is shared by every request with the
/// same schema (see <see cref="JsonGrammarCache"/>) and every model.
/// Invariants: every node is productive (a finite document exists within <see cref="MaxDepth"/>), each union's branches
/// start with disjoint bytes, object keys are distinct, and literals in a set are sorted and distinct, so the matcher is
/// deterministic and every state it reaches is a viable prefix.
/// </summary>
public sealed class JsonGrammar
{
    /// <summary>Deepest stack of frames (nested values) a document may use; pushes past it are refused.</summary>
    public const int MaxDepth = 64;

    internal readonly GrammarNode[] Nodes;
    internal readonly int Root;
    // Objects: property keys as their JSON-escaped bytes without quotes, value node per property, and for each
    // property index i the first required index >= i (or the object's end) so a key never skips a required property.
    internal readonly byte[] KeyBytes;
    internal readonly int[] KeyStart;
    internal readonly int[] KeyLength;
    internal readonly int[] PropertyNode;
    internal readonly int[] NextRequired;
    // Arrays: prefix item nodes.
    internal readonly int[] PrefixNodes;
    // Literals: minified JSON bytes.
    internal readonly byte[] LiteralBytes;
    internal readonly int[] LiteralStart;
    internal readonly int[] LiteralLength;
    // Unions: 256 node ids per union.
    internal readonly int[] Dispatch;
    // Patterns: one DFA per pattern node (node A).
    internal readonly RegexDfa[] Patterns;

    internal JsonGrammar(GrammarNode[] nodes, int root, byte[] keyBytes, int[] keyStart, int[] keyLength, int[] propertyNode,
        int[] nextRequired, int[] prefixNodes, byte[] literalBytes, int[] literalStart, int[] literalLength, int[] dispatch, RegexDfa[] patterns)
    {
        Nodes = nodes;
        Root = root;
        KeyBytes = keyBytes;
        KeyStart = keyStart;
        KeyLength = keyLength;
        PropertyNode = propertyNode;
        NextRequired = nextRequired;
        PrefixNodes = prefixNodes;
        LiteralBytes = literalBytes;
        LiteralStart = literalStart;
        LiteralLength = literalLength;
        Dispatch = dispatch;
        Patterns = patterns;
    }

    /// <summary>Number of nodes (the compiled size; bounded by <see cref="JsonSchemaCompilerOptions.MaxNodes"/>).</summary>
    public int NodeCount => Nodes.Length;

    /// <summary>The unconstrained string node used for map keys (the last node).</summary>
    internal int FreeString => Nodes.Length - 1;

    internal ReadOnlySpan<byte> Key(int property) => new(KeyBytes, KeyStart[property], KeyLength[property]);

    internal ReadOnlySpan<byte> Literal(int index) => new(LiteralBytes, LiteralStart[index], LiteralLength[index]);
}
