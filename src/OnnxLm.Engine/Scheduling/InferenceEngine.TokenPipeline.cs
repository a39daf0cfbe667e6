using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

public sealed partial class InferenceEngine
{
    /// <summary>Handles one sampled token: EOS and stop strings, reasoning tags, detokenization, max_tokens and the context limit.</summary>
    void Accept(Sequence seq, SampledToken sampled, float logprob)
    {
        if (TokenScript is { } script && script(seq.Request, seq.Generated) is int scripted) sampled = sampled with { TokenId = scripted };
        int token = sampled.TokenId;
        int index = seq.Generated;
        byte topCount = (byte)sampled.TopLogprobCount;
        if (topCount > 0)
            seq.Sampler.TopLogprobs.CopyTo(seq.Request.TopLogprobSlot(index));
        seq.Generated++;
        if (seq.TokenCount < seq.Tokens.Length) seq.Tokens[seq.TokenCount++] = token;
        seq.Sampler.Accept(token);
        seq.NextToken = token;
        var req = seq.Request;
        if (!req.IgnoreEos && eos.Contains(token))
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
        // Prompt + generated tokens never exceed the context: the last token is sampled but never needs a KV position.
        if (seq.Generated >= req.MaxTokens || seq.Length + 1 >= runner.MaxLen)
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

    void Finish(Sequence seq, FinishReason reason, bool flushText = true)
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
        ReleaseBlocks(seq);
        var ev = new TokenEvent
        {
            Kind = TokenEventKind.Finished, Finish = reason,
            PromptTokens = seq.PromptLength, CompletionTokens = seq.Generated, CachedTokens = seq.CachedTokens,
        };
        Publish(seq, ev);
        Complete(seq);
    }

    void FinishCancelled(Sequence seq)
    {
        seq.Done = true;
        seq.Overflow = null;
        ReleaseBlocks(seq);
        var ev = new TokenEvent { Kind = TokenEventKind.Finished, Finish = FinishReason.Cancelled, PromptTokens = seq.PromptLength, CompletionTokens = seq.Generated, CachedTokens = seq.CachedTokens };
        seq.Request.Events.TryWrite(ev);
        seq.Request.Events.Complete();
    }

    void Fail(Sequence seq, string message)
    {
        seq.Done = true;
        ReleaseBlocks(seq);
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
            Kind = TokenEventKind.Token, TokenId = token, Index = index, Logprob = logprob, TopLogprobCount = topCount,
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

    void FlushDraining()
    {
        for (int i = 0; i < rows.Length; i++)
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
}
