using OnnxLm.Engine.Constraints;
using OnnxLm.Engine.Sampling;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Where a token is chosen and what follows from it, for every sequence and every token (decode, first token, fork):
/// <see cref="Next"/> runs mask hook → sample → accept → stop / length / EOS decision → publish. Nothing else samples a
/// token or decides that a sequence is finished; the other ends (cancelled, failed) also publish here, so a request's
/// events always leave through this type. Invariant: a sequence is <see cref="Sequence.Done"/> exactly when its final
/// event was written (or queued behind a full ring, then <see cref="Draining"/> completes it).
/// Engine thread only, except the counters it bumps.
/// </summary>
internal sealed class TokenPipeline
{
    readonly Sampler sampler;
    readonly HashSet<int> eos;
    readonly int maxLen;
    readonly PrefixReuse prefixes;
    readonly EngineCounters counters;
    readonly List<Sequence> draining = [];

    public TokenPipeline(Sampler sampler, IEnumerable<int> eosTokenIds, int maxLen, PrefixReuse prefixes, EngineCounters counters,
        GrammarMask grammar)
    {
        this.sampler = sampler;
        eos = [.. eosTokenIds];
        Grammar = grammar;
        this.maxLen = maxLen;
        this.prefixes = prefixes;
        this.counters = counters;
    }

    /// <summary>Finished sequences whose last events wait for room in their ring.</summary>
    public List<Sequence> Draining => draining;

    /// <summary>Structured output and tool calls: masks the tokens of sequences that carry a <see cref="Sequence.Matcher"/>
    /// or <see cref="Sequence.Tools"/>.</summary>
    public GrammarMask Grammar { get; }

    /// <summary>Extension point for constrained decoding: edits logits before sampling. Null (the default) costs one test.</summary>
    public ILogitMask? Mask { get; set; }

    /// <summary>Test hook: called for every sampled token with its request and 0-based index among the generated ones; an
    /// id returned replaces the sampled token (its logprob stays the sampled one's). Lets tests script a model's output.</summary>
    public Func<GenerationRequest, int, int?>? TokenScript { get; set; }

    /// <summary>
    /// Chooses and accepts the next token of <paramref name="seq"/> from its <paramref name="logits"/> (edited in place).
    /// Afterwards <see cref="Sequence.Done"/> says whether the sequence finished.
    /// </summary>
    public void Next(Sequence seq, Span<float> logits)
    {
        if (seq.Constrained)
        {
            // The grammar governs the answer only: a thought is free text (but cannot end the output), and before a
            // possible thought its opening tag stays allowed next to the answer's first tokens. Tool requests carry a
            // ToolCallMatcher instead (free text, calls, or the response_format answer; see ToolCallMatcher).
            int open = seq.Reasoning == ReasoningPhase.BeforeThought ? seq.Request.Reasoning.GetValueOrDefault().Open : -1;
            if (seq.Reasoning == ReasoningPhase.Thinking) Grammar.ForbidEos(logits);
            else if (seq.Matcher is { } matcher) Grammar.Apply(matcher, seq.Request.IgnoreEos, logits, open);
            else Grammar.Apply(seq.Tools!, seq.Request.IgnoreEos, logits, open);
        }
        Mask?.Apply(seq.Request, seq.Generated, logits);
        var token = sampler.Sample(logits, seq.Sampler);
        Interlocked.Increment(ref counters.GeneratedTokens);
        Accept(seq, token, token.Logprob);
    }

    /// <summary>The accept step: EOS and stop strings, reasoning tags, detokenization, max_tokens and the context limit.</summary>
    void Accept(Sequence seq, SampledToken sampled, float logprob)
    {
        if (TokenScript is { } script && script(seq.Request, seq.Generated) is int scripted) sampled = sampled with { TokenId = scripted };
        int token = sampled.TokenId;
        int index = seq.Generated;
        var req = seq.Request;
        bool isEos = !req.IgnoreEos && eos.Contains(token);
        var matcher = seq.Matcher;
        var tools = seq.Tools;
        // Only answer tokens advance the grammar (a thought's tokens and the reasoning tags do not). Only a scripted
        // token (or a mask that left nothing) can break it: never let such a token reach the client.
        if (seq.Constrained && !isEos && seq.Reasoning != ReasoningPhase.Thinking
            && !(seq.Reasoning != ReasoningPhase.Off && req.Reasoning.GetValueOrDefault().IsTag(token))
            && !(matcher?.TryAdvance(token) ?? tools!.TryAdvance(token)))
        {
            Fail(seq, matcher is not null
                ? $"constrained decoding: token {token} does not continue the required JSON"
                : $"constrained decoding: token {token} does not continue the tool call");
            return;
        }
        byte topCount = (byte)sampled.TopLogprobCount;
        if (topCount > 0)
            seq.Sampler.TopLogprobs.CopyTo(seq.Request.TopLogprobSlot(index));
        seq.Generated++;
        if (seq.TokenCount < seq.Tokens.Length) seq.Tokens[seq.TokenCount++] = token;
        seq.Sampler.Accept(token);
        seq.NextToken = token;
        if (isEos)
        {
            PublishToken(seq, token, index, logprob, topCount, []);
            Finish(seq, FinishReason.Stop);
            return;
        }
        bool stopped;
        if (seq.Reasoning != ReasoningPhase.Off && req.Reasoning.GetValueOrDefault().IsTag(token))
            stopped = AcceptReasoningTag(seq, token, index, logprob, topCount);
        else
        {
            if (seq.Reasoning == ReasoningPhase.BeforeThought) seq.Reasoning = ReasoningPhase.Answer;
            seq.Detokenizer.Append(token, skipSpecial: true);
            stopped = seq.Stops.Process(seq.Detokenizer.TakeCompleted(), out var emit);
            PublishToken(seq, token, index, logprob, topCount, emit);
        }
        if (stopped)
        {
            Finish(seq, FinishReason.Stop, flushText: false);
            return;
        }
        // A complete document that nothing can extend (a closed root object, array or string) ends here, without the
        // forward pass an EOS would cost.
        if (seq.Constrained && (matcher is not null ? matcher.IsAccepting && !matcher.CanContinue : tools!.IsAccepting && !tools.CanContinue))
        {
            Finish(seq, FinishReason.Stop);
            return;
        }
        // Prompt + generated tokens never exceed the context: the last token is sampled but never needs a KV position.
        if (seq.Generated >= req.MaxTokens || seq.Length + 1 >= maxLen)
            Finish(seq, FinishReason.Length);
    }

    /// <summary>
    /// A reasoning tag of a request that splits reasoning. No tag reaches the text, so neither field ever shows one. An
    /// opening tag as the first token starts the thought (Qwen3 writes it itself). The closing tag ends the thought: the
    /// text still held back (an unfinished UTF-8 tail, a possible stop-string prefix) is released first, as the thought's
    /// last text, so no byte of the thought reaches the answer; a stop string therefore cannot straddle the tag (it could
    /// not in vLLM either: there the tag's own text sits between). Any other tag (a second opening, a closing one with no
    /// thought open) is dropped. Returns true when a stop string completed.
    /// </summary>
    bool AcceptReasoningTag(Sequence seq, int token, int index, float logprob, byte topCount)
    {
        var tags = seq.Request.Reasoning.GetValueOrDefault();
        switch (seq.Reasoning)
        {
            case ReasoningPhase.BeforeThought when token == tags.Open:
                seq.Reasoning = ReasoningPhase.Thinking;
                PublishToken(seq, token, index, logprob, topCount, []);
                return false;
            case ReasoningPhase.Thinking when token == tags.Close:
                {
                    bool stopped = seq.Stops.Process(seq.Detokenizer.Flush(), out var emit);
                    PublishToken(seq, token, index, logprob, topCount, emit);
                    if (!stopped) PublishText(seq, seq.Stops.Flush());
                    seq.Reasoning = ReasoningPhase.Answer;
                    return stopped;
                }
            default:
                PublishToken(seq, token, index, logprob, topCount, []);
                if (seq.Reasoning == ReasoningPhase.BeforeThought) seq.Reasoning = ReasoningPhase.Answer;
                return false;
        }
    }

    /// <summary>The end of a sequence that stopped or reached its length: held-back text, then the Finished event.</summary>
    public void Finish(Sequence seq, FinishReason reason, bool flushText = true)
    {
        if (flushText)
        {
            // The detokenizer's held-back tail (U+FFFD for an incomplete character) can still complete a stop string.
            if (seq.Stops.Process(seq.Detokenizer.Flush(), out var tail))
                reason = FinishReason.Stop;
            PublishText(seq, tail);
            if (!seq.Stops.IsStopped) PublishText(seq, seq.Stops.Flush());
        }
        seq.Done = true;
        prefixes.Release(seq);
        Grammar.Release(seq);
        counters.Publish();   // a client that saw its request finish then reads statistics that include it
        var ev = new TokenEvent
        {
            Kind = TokenEventKind.Finished,
            Finish = reason,
            PromptTokens = seq.PromptLength,
            CompletionTokens = seq.Generated,
            CachedTokens = seq.CachedTokens,
        };
        Publish(seq, ev);
        Complete(seq);
    }

    /// <summary>The end of a cancelled sequence: events not yet delivered are dropped, the client is gone.</summary>
    public void FinishCancelled(Sequence seq)
    {
        seq.Done = true;
        seq.Overflow = null;
        prefixes.Release(seq);
        Grammar.Release(seq);
        counters.Publish();
        var ev = new TokenEvent { Kind = TokenEventKind.Finished, Finish = FinishReason.Cancelled, PromptTokens = seq.PromptLength, CompletionTokens = seq.Generated, CachedTokens = seq.CachedTokens };
        seq.Request.Events.TryWrite(ev);
        seq.Request.Events.Complete();
    }

    /// <summary>The end of a sequence whose run failed (or the engine is going away): an Error event.</summary>
    public void Fail(Sequence seq, string message)
    {
        seq.Done = true;
        prefixes.Release(seq);
        Grammar.Release(seq);
        counters.Publish();
        Publish(seq, new TokenEvent { Kind = TokenEventKind.Error, Error = message, PromptTokens = seq.PromptLength, CompletionTokens = seq.Generated });
        Complete(seq);
    }

    void Complete(Sequence seq)
    {
        if (seq.Overflow is { Count: > 0 }) draining.Add(seq);
        else seq.Request.Events.Complete();
    }

    void PublishToken(Sequence seq, int token, int index, float logprob, byte topCount, ReadOnlySpan<byte> text)
    {
        var ev = new TokenEvent
        {
            Kind = TokenEventKind.Token,
            TokenId = token,
            Index = index,
            Logprob = logprob,
            TopLogprobCount = topCount,
            Reasoning = seq.Reasoning == ReasoningPhase.Thinking,
        };
        int n = Math.Min(text.Length, TokenEvent.InlineTextBytes);
        n = Utf8Boundary(text, n);
        text[..n].CopyTo(ev.Text);
        ev.TextLength = (byte)n;
        Publish(seq, ev);
        PublishText(seq, text[n..]);
    }

    void PublishText(Sequence seq, ReadOnlySpan<byte> text)
    {
        while (text.Length > 0)
        {
            var ev = new TokenEvent { Kind = TokenEventKind.Text, Reasoning = seq.Reasoning == ReasoningPhase.Thinking };
            int n = Utf8Boundary(text, Math.Min(text.Length, TokenEvent.InlineTextBytes));
            text[..n].CopyTo(ev.Text);
            ev.TextLength = (byte)n;
            Publish(seq, ev);
            text = text[n..];
        }
    }

    /// <summary>Largest cut ≤ n that does not split a UTF-8 character (events always carry whole characters).</summary>
    static int Utf8Boundary(ReadOnlySpan<byte> text, int n)
    {
        if (n >= text.Length) return text.Length;
        int cut = n;
        while (cut > 0 && (text[cut] & 0xC0) == 0x80) cut--;
        return cut == 0 ? n : cut;
    }

    void Publish(Sequence seq, in TokenEvent ev)
    {
        if (seq.Overflow is { Count: > 0 } || !seq.Request.Events.TryWrite(ev))
            (seq.Overflow ??= new Queue<TokenEvent>()).Enqueue(ev);
    }

    /// <summary>Moves held-back events of running sequences and of finished ones into their rings as room appears.</summary>
    public void FlushDraining(SlotRowTable rows)
    {
        for (int i = 0; i < rows.Count; i++)
            if (rows[i] is { Overflow.Count: > 0 } seq) FlushOverflow(seq);
        for (int i = draining.Count - 1; i >= 0; i--)
        {
            var seq = draining[i];
            FlushOverflow(seq);
            if (seq.Overflow!.Count == 0)
            {
                draining.RemoveAt(i);
                seq.Request.Events.Complete();
            }
        }
    }

    static void FlushOverflow(Sequence seq)
    {
        var q = seq.Overflow!;
        while (q.Count > 0 && seq.Request.Events.TryWrite(q.Peek())) q.Dequeue();
    }

    /// <summary>Ends a sequence whose group (OpenAI <c>n</c>) is cancelled: its siblings end with it.</summary>
    public void CancelSiblings(Sequence seq)
    {
        if (seq.Siblings is null) return;
        foreach (var sib in seq.Siblings) FinishCancelled(sib);
        seq.Siblings = null;
    }

    /// <summary>Fails a sequence and every sibling waiting to be forked from it.</summary>
    public void FailGroup(Sequence seq, string message)
    {
        Fail(seq, message);
        if (seq.Siblings is null) return;
        foreach (var sib in seq.Siblings) Fail(sib, message);
        seq.Siblings = null;
    }

    /// <summary>Draining sequences whose client went away: their queued events are dropped.</summary>
    public void DropCancelledDraining()
    {
        for (int i = draining.Count - 1; i >= 0; i--)
        {
            if (!draining[i].Request.IsCancellationRequested) continue;
            var seq = draining[i];
            draining.RemoveAt(i);
            seq.Overflow = null;
            seq.Request.Events.Complete();
        }
    }

    /// <summary>At shutdown: whatever fits in the rings is written, then every draining request is completed.</summary>
    public void CompleteDraining()
    {
        foreach (var seq in draining)
        {
            FlushOverflow(seq);
            seq.Request.Events.Complete();
        }
        draining.Clear();
    }
}
