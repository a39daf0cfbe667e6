namespace OnnxLm.Engine.Constraints;

/// <summary>
/// A JSON-schema <c>pattern</c> (ECMA-262 subset) compiled to a DFA over the raw UTF-8 bytes of a string's content:
/// Thompson NFA, subset construction, then states that cannot reach acceptance removed, so every state the matcher
/// reaches can still complete (transition -1 = dead). Soundness rests on narrowing, never widening:
/// <list type="bullet">
/// <item>the content is raw bytes: no JSON escapes, so <c>"</c>, <c>\</c> and control characters never appear;</item>
/// <item>inside the match, <c>.</c> and negated classes take ASCII printables and BMP characters other than the line
/// terminators U+2028/U+2029 (never astral characters, whose length differs between ECMA's unicode and non-unicode
/// modes); <c>\s</c> is a space; <c>\D</c>, <c>\W</c>, <c>\S</c> are ASCII;</item>
/// <item>an unanchored side may hold any such text (astral characters included).</item>
/// </list>
/// Refused (a <see cref="SchemaNotSupportedException"/> for <c>pattern</c>): backreferences, lookaround, word
/// boundaries, anchors other than a leading <c>^</c>/trailing <c>$</c>, anchors with a top-level <c>|</c>, non-ASCII
/// class ranges, and patterns beyond the NFA/DFA state limits.
/// </summary>
public sealed class RegexDfa
{
    internal readonly int[] Transitions; // state * 256 + byte → state, or -1
    internal readonly bool[] Accepting;
    internal const int Start = 0;

    private RegexDfa(int[] transitions, bool[] accepting)
    {
        Transitions = transitions;
        Accepting = accepting;
    }

    public int StateCount => Accepting.Length;

    /// <summary>True when no string matches under the narrowing (the caller treats the schema as unsatisfiable).</summary>
    public bool IsEmpty => Accepting.Length == 0;

    internal const int MaxNfaStates = 20_000;
    internal const int MaxDfaStates = 2_000;

    /// <summary>Compiles <paramref name="pattern"/>; <paramref name="keyword"/>/<paramref name="pointer"/> name it in errors.</summary>
    public static RegexDfa Compile(string pattern, string keyword, string pointer)
    {
        var nfa = new Nfa(keyword, pointer);
        var parser = new Parser(pattern, nfa, keyword, pointer);
        (int start, int end) = parser.ParseWhole();
        return Determinize(nfa, start, end, keyword, pointer);
    }

    private static RegexDfa Determinize(Nfa nfa, int start, int end, string keyword, string pointer)
    {
        var sets = new List<int[]>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var transitions = new List<int>();
        var work = new Queue<int>();
        int[] first = nfa.Closure([start]);
        sets.Add(first);
        index[Key(first)] = 0;
        work.Enqueue(0);
        var targets = new List<int>();
        while (work.Count > 0)
        {
            int d = work.Dequeue();
            while (transitions.Count < (d + 1) * 256)
            {
                transitions.Add(-1);
            }
            for (int b = 0; b < 256; b++)
            {
                targets.Clear();
                foreach (int s in sets[d])
                {
                    if (nfa.Edge[s] is { } set && set[b])
                    {
                        targets.Add(nfa.EdgeTarget[s]);
                    }
                }
                if (targets.Count == 0)
                {
                    continue;
                }
                int[] closure = nfa.Closure(targets);
                string key = Key(closure);
                if (!index.TryGetValue(key, out int next))
                {
                    if (sets.Count >= MaxDfaStates)
                    {
                        throw new SchemaNotSupportedException(keyword, pointer, $"the pattern needs more than {MaxDfaStates} automaton states.");
                    }
                    next = sets.Count;
                    sets.Add(closure);
                    index[key] = next;
                    work.Enqueue(next);
                }
                transitions[d * 256 + b] = next;
            }
        }
        while (transitions.Count < sets.Count * 256)
        {
            transitions.Add(-1);
        }
        var accepting = new bool[sets.Count];
        for (int d = 0; d < sets.Count; d++)
        {
            accepting[d] = Array.IndexOf(sets[d], end) >= 0;
        }
        // Keep the states that can reach acceptance; renumber so the start stays 0.
        var live = new bool[sets.Count];
        bool changed = true;
        for (int d = 0; d < sets.Count; d++)
        {
            live[d] = accepting[d];
        }
        while (changed)
        {
            changed = false;
            for (int d = 0; d < sets.Count; d++)
            {
                if (live[d])
                {
                    continue;
                }
                for (int b = 0; b < 256; b++)
                {
                    int t = transitions[d * 256 + b];
                    if (t >= 0 && live[t])
                    {
                        live[d] = changed = true;
                        break;
                    }
                }
            }
        }
        if (!live[0])
        {
            return new RegexDfa([], []);
        }
        var map = new int[sets.Count];
        int count = 0;
        for (int d = 0; d < sets.Count; d++)
        {
            map[d] = live[d] ? count++ : -1;
        }
        var pruned = new int[count * 256];
        var prunedAccepting = new bool[count];
        for (int d = 0; d < sets.Count; d++)
        {
            if (map[d] < 0)
            {
                continue;
            }
            prunedAccepting[map[d]] = accepting[d];
            for (int b = 0; b < 256; b++)
            {
                int t = transitions[d * 256 + b];
                pruned[map[d] * 256 + b] = t >= 0 ? map[t] : -1;
            }
        }
        return new RegexDfa(pruned, prunedAccepting);
    }

    private static string Key(int[] set) => string.Join(',', set);

    /// <summary>Thompson NFA: each state has epsilon edges and at most one byte-set edge.</summary>
    private sealed class Nfa(string keyword, string pointer)
    {
        public readonly List<List<int>> Epsilon = [];
        public readonly List<bool[]?> Edge = [];
        public readonly List<int> EdgeTarget = [];

        public int NewState()
        {
            if (Epsilon.Count >= MaxNfaStates)
            {
                throw new SchemaNotSupportedException(keyword, pointer, $"the pattern needs more than {MaxNfaStates} states.");
            }
            Epsilon.Add([]);
            Edge.Add(null);
            EdgeTarget.Add(-1);
            return Epsilon.Count - 1;
        }

        public int[] Closure(List<int> from)
        {
            var seen = new HashSet<int>(from);
            var stack = new Stack<int>(from);
            while (stack.Count > 0)
            {
                foreach (int t in Epsilon[stack.Pop()])
                {
                    if (seen.Add(t))
                    {
                        stack.Push(t);
                    }
                }
            }
            int[] result = [.. seen];
            Array.Sort(result);
            return result;
        }
    }

    /// <summary>A fragment of NFA: a start and an end state; built by the parser, copied for bounded repeats.</summary>
    private abstract record Node;
    private sealed record Bytes(bool[] Set) : Node;
    private sealed record Seq(List<Node> Items) : Node;
    private sealed record Alt(List<Node> Options) : Node;
    private sealed record Repeat(Node Item, int Min, int Max) : Node; // Max -1: unbounded

    private sealed class Parser(string pattern, Nfa nfa, string keyword, string pointer)
    {
        private int pos;

        private SchemaNotSupportedException Refuse(string why) => new(keyword, pointer, $"{why} (in /{pattern}/).");

        public (int Start, int End) ParseWhole()
        {
            string body = pattern;
            bool anchoredStart = body.StartsWith('^');
            bool anchoredEnd = body.EndsWith('$') && !EndsWithEscapedDollar(body);
            int from = anchoredStart ? 1 : 0;
            int to = anchoredEnd ? body.Length - 1 : body.Length;
            pos = from;
            endPosition = to;
            Node node = ParseAlternation();
            if (pos != to)
            {
                throw Refuse($"unexpected '{pattern[pos]}' at {pos}");
            }
            if ((anchoredStart || anchoredEnd) && node is Alt)
            {
                throw Refuse("anchors with a top-level '|' are not supported");
            }
            var parts = new List<Node>();
            if (!anchoredStart)
            {
                parts.Add(new Repeat(AnyText(), 0, -1));
            }
            parts.Add(node);
            if (!anchoredEnd)
            {
                parts.Add(new Repeat(AnyText(), 0, -1));
            }
            return Build(new Seq(parts));
        }

        private int endPosition;

        private static bool EndsWithEscapedDollar(string s)
        {
            int backslashes = 0;
            for (int i = s.Length - 2; i >= 0 && s[i] == '\\'; i--)
            {
                backslashes++;
            }
            return backslashes % 2 == 1;
        }

        private Node ParseAlternation()
        {
            var options = new List<Node> { ParseSequence() };
            while (pos < endPosition && pattern[pos] == '|')
            {
                pos++;
                options.Add(ParseSequence());
            }
            return options.Count == 1 ? options[0] : new Alt(options);
        }

        private Node ParseSequence()
        {
            var items = new List<Node>();
            while (pos < endPosition && pattern[pos] is not ('|' or ')'))
            {
                Node atom = ParseAtom();
                items.Add(ParseQuantifier(atom));
            }
            return new Seq(items);
        }

        private Node ParseQuantifier(Node atom)
        {
            if (pos >= endPosition)
            {
                return atom;
            }
            int min, max;
            switch (pattern[pos])
            {
                case '*': min = 0; max = -1; pos++; break;
                case '+': min = 1; max = -1; pos++; break;
                case '?': min = 0; max = 1; pos++; break;
                case '{' when TryParseBraces(out min, out max): break;
                default: return atom;
            }
            if (pos < endPosition && pattern[pos] == '?')
            {
                pos++; // lazy: the same language
            }
            if (pos < endPosition && pattern[pos] is '*' or '+' or '?' or '{')
            {
                if (pattern[pos] != '{' || TryPeekBraces())
                {
                    throw Refuse("a quantifier after a quantifier");
                }
            }
            return new Repeat(atom, min, max);
        }

        private bool TryPeekBraces()
        {
            int save = pos;
            bool ok = TryParseBraces(out _, out _);
            pos = save;
            return ok;
        }

        private bool TryParseBraces(out int min, out int max)
        {
            min = max = 0;
            int close = pattern.IndexOf('}', pos);
            if (close < 0 || close >= endPosition)
            {
                return false;
            }
            string inner = pattern[(pos + 1)..close];
            string[] parts = inner.Split(',');
            if (parts.Length is < 1 or > 2 || !int.TryParse(parts[0], out min)
                || (parts.Length == 2 && parts[1].Length > 0 && !int.TryParse(parts[1], out max)))
            {
                return false;
            }
            max = parts.Length == 1 ? min : parts[1].Length == 0 ? -1 : max;
            if (min > 1000 || max > 1000 || (max >= 0 && max < min))
            {
                throw Refuse("a repeat count above 1000 or reversed");
            }
            pos = close + 1;
            return true;
        }

        private Node ParseAtom()
        {
            char c = pattern[pos++];
            switch (c)
            {
                case '(':
                    if (pos < endPosition && pattern[pos] == '?')
                    {
                        if (pos + 1 < endPosition && pattern[pos + 1] == ':')
                        {
                            pos += 2;
                        }
                        else if (pos + 1 < endPosition && pattern[pos + 1] == '<' && pos + 2 < endPosition && pattern[pos + 2] is not ('=' or '!'))
                        {
                            int close = pattern.IndexOf('>', pos);
                            if (close < 0)
                            {
                                throw Refuse("an unterminated group name");
                            }
                            pos = close + 1;
                        }
                        else
                        {
                            throw Refuse("lookaround is not supported");
                        }
                    }
                    Node inner = ParseAlternation();
                    if (pos >= endPosition || pattern[pos] != ')')
                    {
                        throw Refuse("an unclosed group");
                    }
                    pos++;
                    return inner;
                case '[':
                    return ParseClass();
                case '.':
                    return AnyChar(astral: false);
                case '\\':
                    return ParseEscape(inClass: false, out _);
                case '^':
                case '$':
                    throw Refuse($"'{c}' inside the pattern is not supported");
                case '*':
                case '+':
                case '?':
                    throw Refuse($"'{c}' with nothing to repeat");
                default:
                    if (char.IsSurrogate(c))
                    {
                        if (pos < endPosition && char.IsSurrogatePair(c, pattern[pos]))
                        {
                            string pair = pattern.Substring(pos - 1, 2);
                            pos++;
                            return Literal(pair);
                        }
                        throw Refuse("a lone surrogate");
                    }
                    return Literal(c.ToString());
            }
        }

        /// <summary>The UTF-8 bytes of a literal; characters JSON requires escaped match nothing (narrowing).</summary>
        private static Node Literal(string text)
        {
            if (text.Length == 1 && (text[0] < 0x20 || text[0] is '"' or '\\'))
            {
                return new Bytes(new bool[256]);
            }
            var items = new List<Node>();
            foreach (byte b in System.Text.Encoding.UTF8.GetBytes(text))
            {
                var set = new bool[256];
                set[b] = true;
                items.Add(new Bytes(set));
            }
            return items.Count == 1 ? items[0] : new Seq(items);
        }

        private Node ParseEscape(bool inClass, out char single)
        {
            single = '\0';
            if (pos >= endPosition)
            {
                throw Refuse("a trailing backslash");
            }
            char c = pattern[pos++];
            switch (c)
            {
                case 'd': return new Bytes(Ascii(ch => ch is >= '0' and <= '9'));
                case 'w': return new Bytes(Ascii(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_'));
                case 's': return new Bytes(Ascii(ch => ch == ' '));
                case 'D': return new Bytes(Printable(ch => ch is not (>= '0' and <= '9')));
                case 'W': return new Bytes(Printable(ch => !(char.IsAsciiLetterOrDigit(ch) || ch == '_')));
                case 'S': return new Bytes(Printable(ch => ch != ' '));
                case 'b' when inClass: single = '\b'; return Literal("\b");
                case 'b':
                case 'B': throw Refuse("word boundaries are not supported");
                case 't': single = '\t'; return Literal("\t");
                case 'n': single = '\n'; return Literal("\n");
                case 'r': single = '\r'; return Literal("\r");
                case 'f': single = '\f'; return Literal("\f");
                case 'v': single = '\v'; return Literal("\v");
                case '0': single = '\0'; return Literal("\0");
                case 'u':
                    if (pos + 4 > endPosition || !int.TryParse(pattern.AsSpan(pos, 4), System.Globalization.NumberStyles.HexNumber, null, out int code))
                    {
                        throw Refuse("a malformed \\u escape");
                    }
                    pos += 4;
                    if (code is >= 0xD800 and <= 0xDFFF)
                    {
                        throw Refuse("a surrogate \\u escape");
                    }
                    single = (char)code;
                    return Literal(single.ToString());
                case 'x':
                    if (pos + 2 > endPosition || !int.TryParse(pattern.AsSpan(pos, 2), System.Globalization.NumberStyles.HexNumber, null, out int x))
                    {
                        throw Refuse("a malformed \\x escape");
                    }
                    pos += 2;
                    single = (char)x;
                    return Literal(single.ToString());
                default:
                    if (char.IsAsciiLetterOrDigit(c))
                    {
                        throw Refuse($"the escape \\{c} is not supported");
                    }
                    single = c;
                    return Literal(c.ToString());
            }
        }

        private Node ParseClass()
        {
            bool negated = pos < endPosition && pattern[pos] == '^';
            if (negated)
            {
                pos++;
            }
            var ascii = new bool[128];
            var others = new List<Node>();
            bool first = true;
            while (pos < endPosition && (pattern[pos] != ']' || first))
            {
                first = false;
                char low;
                if (pattern[pos] == '\\')
                {
                    pos++;
                    Node escaped = ParseEscape(inClass: true, out low);
                    if (low == '\0' && pattern[pos - 1] != '0')
                    {
                        // A class escape (\d, \w...): merge its ASCII bytes.
                        if (escaped is Bytes { Set: var set })
                        {
                            for (int b = 0; b < 128; b++)
                            {
                                ascii[b] |= set[b];
                            }
                            continue;
                        }
                    }
                }
                else
                {
                    low = pattern[pos++];
                }
                char high = low;
                if (pos + 1 < endPosition && pattern[pos] == '-' && pattern[pos + 1] != ']')
                {
                    pos++;
                    if (pattern[pos] == '\\')
                    {
                        pos++;
                        ParseEscape(inClass: true, out high);
                    }
                    else
                    {
                        high = pattern[pos++];
                    }
                    if (high < low)
                    {
                        throw Refuse("a reversed class range");
                    }
                }
                if (high < 128)
                {
                    for (int ch = low; ch <= high; ch++)
                    {
                        ascii[ch] = true;
                    }
                }
                else if (low == high && !char.IsSurrogate(low) && !negated)
                {
                    others.Add(Literal(low.ToString()));
                }
                else
                {
                    throw Refuse("non-ASCII ranges in a class are not supported");
                }
            }
            if (pos >= endPosition)
            {
                throw Refuse("an unclosed class");
            }
            pos++;
            if (negated)
            {
                // Narrowing: ASCII printables outside the class, and BMP characters (none of which can be in it).
                Node rest = AnyNonAscii(astral: false);
                return new Alt([new Bytes(Printable(ch => !ascii[ch])), rest]);
            }
            var bytes = new bool[256];
            for (int b = 0x20; b < 128; b++)
            {
                bytes[b] = ascii[b] && b is not ('"' or '\\');
            }
            others.Add(new Bytes(bytes));
            return others.Count == 1 ? others[0] : new Alt(others);
        }

        private static bool[] Ascii(Func<char, bool> include)
        {
            var set = new bool[256];
            for (int b = 0x20; b < 0x7F; b++)
            {
                set[b] = b is not ('"' or '\\') && include((char)b);
            }
            return set;
        }

        private static bool[] Printable(Func<char, bool> include) => Ascii(include);

        private static Node AnyChar(bool astral) => new Alt([new Bytes(Ascii(_ => true)), AnyNonAscii(astral)]);

        /// <summary>Text outside the match: any character the string may hold raw, astral ones included.</summary>
        private static Node AnyText() => AnyChar(astral: true);

        /// <summary>Valid multi-byte UTF-8 characters other than U+2028/U+2029 (and, unless asked, no astral ones).</summary>
        private static Node AnyNonAscii(bool astral)
        {
            var options = new List<Node>
            {
                Chain(Range(0xC2, 0xDF), Range(0x80, 0xBF)),
                Chain(Range(0xE0, 0xE0), Range(0xA0, 0xBF), Range(0x80, 0xBF)),
                Chain(Range(0xE1, 0xE1), Range(0x80, 0xBF), Range(0x80, 0xBF)),
                // E2 80 A8/A9 are U+2028/U+2029, line terminators '.' does not match.
                Chain(Range(0xE2, 0xE2), Range(0x80, 0x80), Union(Range(0x80, 0xA7), Range(0xAA, 0xBF))),
                Chain(Range(0xE2, 0xE2), Range(0x81, 0xBF), Range(0x80, 0xBF)),
                Chain(Range(0xE3, 0xEC), Range(0x80, 0xBF), Range(0x80, 0xBF)),
                Chain(Range(0xED, 0xED), Range(0x80, 0x9F), Range(0x80, 0xBF)),
                Chain(Range(0xEE, 0xEF), Range(0x80, 0xBF), Range(0x80, 0xBF)),
            };
            if (astral)
            {
                options.Add(Chain(Range(0xF0, 0xF0), Range(0x90, 0xBF), Range(0x80, 0xBF), Range(0x80, 0xBF)));
                options.Add(Chain(Range(0xF1, 0xF3), Range(0x80, 0xBF), Range(0x80, 0xBF), Range(0x80, 0xBF)));
                options.Add(Chain(Range(0xF4, 0xF4), Range(0x80, 0x8F), Range(0x80, 0xBF), Range(0x80, 0xBF)));
            }
            return new Alt(options);
        }

        private static bool[] Range(int low, int high)
        {
            var set = new bool[256];
            for (int b = low; b <= high; b++)
            {
                set[b] = true;
            }
            return set;
        }

        private static bool[] Union(bool[] a, bool[] b)
        {
            var set = new bool[256];
            for (int i = 0; i < 256; i++)
            {
                set[i] = a[i] || b[i];
            }
            return set;
        }

        private static Node Chain(params bool[][] sets) => new Seq([.. sets.Select(s => (Node)new Bytes(s))]);

        private (int Start, int End) Build(Node node)
        {
            switch (node)
            {
                case Bytes bytes:
                    {
                        int s = nfa.NewState();
                        int e = nfa.NewState();
                        nfa.Edge[s] = bytes.Set;
                        nfa.EdgeTarget[s] = e;
                        return (s, e);
                    }
                case Seq seq:
                    {
                        int s = nfa.NewState();
                        int current = s;
                        foreach (Node item in seq.Items)
                        {
                            (int a, int b) = Build(item);
                            nfa.Epsilon[current].Add(a);
                            current = b;
                        }
                        return (s, current);
                    }
                case Alt alt:
                    {
                        int s = nfa.NewState();
                        int e = nfa.NewState();
                        foreach (Node option in alt.Options)
                        {
                            (int a, int b) = Build(option);
                            nfa.Epsilon[s].Add(a);
                            nfa.Epsilon[b].Add(e);
                        }
                        return (s, e);
                    }
                case Repeat repeat:
                    {
                        int s = nfa.NewState();
                        int current = s;
                        for (int i = 0; i < repeat.Min; i++)
                        {
                            (int a, int b) = Build(repeat.Item);
                            nfa.Epsilon[current].Add(a);
                            current = b;
                        }
                        if (repeat.Max < 0)
                        {
                            (int a, int b) = Build(repeat.Item);
                            nfa.Epsilon[current].Add(a);
                            nfa.Epsilon[b].Add(a);
                            int e = nfa.NewState();
                            nfa.Epsilon[current].Add(e);
                            nfa.Epsilon[b].Add(e);
                            return (s, e);
                        }
                        int end = nfa.NewState();
                        nfa.Epsilon[current].Add(end);
                        for (int i = repeat.Min; i < repeat.Max; i++)
                        {
                            (int a, int b) = Build(repeat.Item);
                            nfa.Epsilon[current].Add(a);
                            nfa.Epsilon[b].Add(end);
                            current = b;
                        }
                        return (s, end);
                    }
                default:
                    throw new InvalidOperationException();
            }
        }
    }
}
