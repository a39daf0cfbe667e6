using System.Buffers;
using System.Text;

namespace OnnxLm.Engine.Text;

/// <summary>
/// Splits one choice's output into content and tool calls, reading the text the client would have received (plus the
/// text of marker tokens the detokenizer skips as special) with the same <see cref="ToolCallFormat"/> the constrained
/// decoder enforced: free text until the trigger (held back while it may be the trigger's start), then
/// <c>First name NameEnd arguments (Next name NameEnd arguments)* Last</c>. A name is published only once complete;
/// arguments grow byte by byte (a JSON object, tracked by nesting depth outside strings), so a streamed call's
/// concatenated fragments equal its final arguments. Text that departs from the format (only possible without the
/// mask, e.g. a length cut) ends parsing: the rest is content. Not thread-safe: one parser per choice.
/// </summary>
public sealed class ToolCallParser
{
    enum State : byte { Free, Expect, Name, Arguments, AfterArguments, Done, Broken }

    /// <summary>One parsed call: <see cref="Name"/> is null until the name is complete.</summary>
    public sealed class Call
    {
        internal readonly ArrayBufferWriter<byte> Args = new(64);

        public string? Name { get; internal set; }

        /// <summary>The arguments so far (minified JSON bytes as generated).</summary>
        public ReadOnlySpan<byte> Arguments => Args.WrittenSpan;

        /// <summary>The arguments value closed.</summary>
        public bool Complete { get; internal set; }
    }

    readonly ToolCallFormat format;
    readonly Dictionary<int, byte[]> specialMarkers = [];
    readonly byte[] trigger;
    readonly int[] failure;
    readonly byte[] first;
    readonly byte[] nameEnd;
    readonly byte[] next;
    readonly byte[] last;
    readonly ArrayBufferWriter<byte> content = new(256);
    readonly List<Call> calls = [];
    readonly List<byte> pending = [];   // bytes held: a trigger prefix (Free), a name, or a literal being matched
    readonly bool triggered;
    // The trigger as one added token (as the mask writes it): only that token starts a call; its text is never content.
    readonly int triggerToken = -1;
    State state;
    byte[] expect = [];
    int expectAt;
    State afterExpect;
    int depth;
    bool inString;
    bool escaped;
    int kmp;
    int heldUtf8;

    /// <param name="startsInCall">The output is a call from its first byte (<c>tool_choice</c> required or named).</param>
    /// <param name="detectCalls">Free text may start a call at the trigger (<c>auto</c>); false: all content.</param>
    public ToolCallParser(ToolCallFormat format, TokenVocabulary vocabulary, bool startsInCall, bool detectCalls = true)
    {
        this.format = format;
        foreach (string marker in format.Markers)
            if (vocabulary.FindToken(marker) is int id && vocabulary.IsSpecial(id)) specialMarkers[id] = Encoding.UTF8.GetBytes(marker);
        trigger = Encoding.UTF8.GetBytes(format.Trigger);
        failure = Failure(trigger);
        first = Encoding.UTF8.GetBytes(format.First);
        nameEnd = Encoding.UTF8.GetBytes(format.NameEnd);
        next = Encoding.UTF8.GetBytes(format.Next);
        last = Encoding.UTF8.GetBytes(format.Last);
        triggered = detectCalls;
        if (format.Markers.Contains(format.Trigger) && vocabulary.FindToken(format.Trigger) is int token) triggerToken = token;
        if (startsInCall) Expect(first, 0, State.Name);
        else state = State.Free;
    }

    public ToolCallFormat Format => format;

    /// <summary>Content released so far (whole UTF-8 characters).</summary>
    public ReadOnlySpan<byte> Content => content.WrittenSpan[..(content.WrittenCount - heldUtf8)];

    /// <summary>The calls seen so far, in order.</summary>
    public IReadOnlyList<Call> Calls => calls;

    /// <summary>At least one call's arguments completed and the format's end was reached (or may be).</summary>
    public bool HasCalls => calls.Count > 0 && calls[0].Complete;

    /// <summary>Feeds one token event: its text, then (for a special marker token, whose text the detokenizer skips) the marker.</summary>
    public void Feed(int tokenId, ReadOnlySpan<byte> text)
    {
        if (triggerToken >= 0 && state == State.Free && triggered)
        {
            if (tokenId == triggerToken)
            {
                // The token's own text (when not special) ends the event's text: what comes before it is content.
                if (text.EndsWith(trigger)) text = text[..^trigger.Length];
                content.Write(text);
                UpdateHeld();
                Expect(first, trigger.Length, State.Name);
                return;
            }
            content.Write(text);
            UpdateHeld();
            return;
        }
        Feed(text);
        if (tokenId >= 0 && specialMarkers.TryGetValue(tokenId, out byte[]? marker)) Feed(marker);
    }

    /// <summary>Feeds output bytes.</summary>
    public void Feed(ReadOnlySpan<byte> text)
    {
        foreach (byte b in text) Step(b);
        UpdateHeld();
    }

    /// <summary>The output ended: held-back text is content (or, mid-literal, dropped with the broken call).</summary>
    public void Finish()
    {
        if (state == State.Free)
        {
            Release();
        }
        else if (state == State.AfterArguments && pending.Count > 0 && Matches(last, pending, exact: true))
        {
            state = State.Done;
        }
        heldUtf8 = 0;
    }

    void Step(byte b)
    {
        switch (state)
        {
            case State.Free:
                if (!triggered || triggerToken >= 0)
                {
                    content.Write([b]);
                    return;
                }
                while (kmp > 0 && b != trigger[kmp])
                {
                    // The held prefix shrinks to its longest border: the bytes before it are content.
                    int keep = failure[kmp];
                    ReleaseFront(kmp - keep);
                    kmp = keep;
                }
                if (b == trigger[kmp])
                {
                    kmp++;
                    pending.Add(b);
                    if (kmp == trigger.Length)
                    {
                        pending.Clear();
                        kmp = 0;
                        Expect(first, trigger.Length, State.Name);
                    }
                }
                else
                {
                    content.Write([b]);
                }
                return;
            case State.Expect:
                if (b != expect[expectAt])
                {
                    Break(b);
                    return;
                }
                if (++expectAt == expect.Length)
                {
                    state = afterExpect;
                    if (state == State.Name)
                    {
                        calls.Add(new Call());
                        pending.Clear();
                    }
                }
                return;
            case State.Name:
                if (b == nameEnd[0])
                {
                    calls[^1].Name = Encoding.UTF8.GetString([.. pending]);
                    pending.Clear();
                    Expect(nameEnd, 1, State.Arguments);
                    depth = 0;
                    inString = false;
                    escaped = false;
                    return;
                }
                pending.Add(b);
                return;
            case State.Arguments:
                {
                    var call = calls[^1];
                    call.Args.Write([b]);
                    if (inString)
                    {
                        if (escaped) escaped = false;
                        else if (b == (byte)'\\') escaped = true;
                        else if (b == (byte)'"') inString = false;
                        return;
                    }
                    if (b == (byte)'"') inString = true;
                    else if (b is (byte)'{' or (byte)'[') depth++;
                    else if (b is (byte)'}' or (byte)']')
                    {
                        if (--depth == 0)
                        {
                            call.Complete = true;
                            state = State.AfterArguments;
                            pending.Clear();
                        }
                    }
                    return;
                }
            case State.AfterArguments:
                pending.Add(b);
                if (Matches(next, pending, exact: true))
                {
                    pending.Clear();
                    calls.Add(new Call());
                    state = State.Name;
                    return;
                }
                if (Matches(last, pending, exact: true) && !Matches(next, pending, exact: false))
                {
                    state = State.Done;
                    return;
                }
                if (!Matches(next, pending, exact: false) && !Matches(last, pending, exact: false)) Break(b);
                return;
            case State.Broken:
                content.Write([b]);
                return;
            case State.Done:
                return;
        }
    }

    /// <summary>The text left the format (possible only without the mask): from this byte on, everything is content.</summary>
    void Break(byte b)
    {
        state = State.Broken;
        content.Write([b]);
    }

    /// <summary>Whether <paramref name="got"/> equals <paramref name="literal"/> (exact) or is a prefix of it.</summary>
    static bool Matches(byte[] literal, List<byte> got, bool exact)
    {
        if (got.Count > literal.Length || (exact && got.Count != literal.Length)) return false;
        for (int i = 0; i < got.Count; i++)
            if (literal[i] != got[i]) return false;
        return true;
    }

    void Expect(byte[] literal, int at, State then)
    {
        expect = literal;
        expectAt = at;
        afterExpect = then;
        state = at >= literal.Length ? then : State.Expect;
        if (state == State.Name)
        {
            calls.Add(new Call());
            pending.Clear();
        }
    }

    void ReleaseFront(int count)
    {
        for (int i = 0; i < count; i++) content.Write([pending[i]]);
        pending.RemoveRange(0, count);
    }

    void Release()
    {
        ReleaseFront(pending.Count);
        kmp = 0;
    }

    /// <summary>Keeps an unfinished UTF-8 character at the end of the content out of <see cref="Content"/>.</summary>
    void UpdateHeld()
    {
        var span = content.WrittenSpan;
        int held = 0;
        for (int i = span.Length - 1; i >= 0 && i >= span.Length - 4; i--)
        {
            byte b = span[i];
            if ((b & 0xC0) == 0x80)
            {
                held++;
                continue;
            }
            int need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            heldUtf8 = need > held + 1 ? held + 1 : 0;
            return;
        }
        heldUtf8 = 0;
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
}
