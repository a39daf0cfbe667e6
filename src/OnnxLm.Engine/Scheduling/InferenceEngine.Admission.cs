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
    void DrainCommands()
    {
        while (commands.TryDequeue(out var cmd))
        {
            if (cmd.Kind == CommandKind.Submit)
            {
                var seq = NewSequence(cmd.Request);
                if (cmd.Group is { } group)
                {
                    seq.Siblings = new List<Sequence>(group.Length - 1);
                    for (int i = 1; i < group.Length; i++) seq.Siblings.Add(NewSequence(group[i]));
                }
                if (cmd.Request.PromptTokens.Length == 0 || cmd.Request.PromptTokens.Length >= runner.MaxLen)
                {
                    Interlocked.Add(ref pending, -seq.GroupSize);
                    FailGroup(seq, $"prompt of {cmd.Request.PromptTokens.Length} tokens does not fit the context of {runner.MaxLen}");
                    continue;
                }
                waiting.Add(seq);
                StartSsdRead(seq);
            }
            // Cancel commands only wake the loop; ApplyCancellations reads the flag.
        }
    }

    Sequence NewSequence(GenerationRequest request) => new(request, vocabulary, sampler, runner.MaxLen, cache?.BlockSize ?? 1);

    void ApplyCancellations()
    {
        if (cancelAll)
        {
            cancelAll = false;
            foreach (var seq in waiting) seq.Request.MarkCancelled();
            foreach (var seq in prefillGroup) seq.Request.MarkCancelled();
            for (int i = 0; i < decodeCount; i++) rows[i]!.Request.MarkCancelled();
        }
        for (int i = waiting.Count - 1; i >= 0; i--)
        {
            if (!waiting[i].Request.IsCancellationRequested) continue;
            var seq = waiting[i];
            waiting.RemoveAt(i);
            Interlocked.Add(ref pending, -seq.GroupSize);
            FinishCancelled(seq);
            CancelSiblings(seq);
        }
        for (int i = prefillGroup.Count - 1; i >= 0; i--)
        {
            if (!prefillGroup[i].Request.IsCancellationRequested) continue;
            var seq = prefillGroup[i];
            prefillGroup.RemoveAt(i);
            FreeRow(seq);
            FinishCancelled(seq);
            CancelSiblings(seq);   // a group is one client request: it goes away as a whole
        }
        for (int i = decodeCount - 1; i >= 0; i--)
        {
            var seq = rows[i]!;
            if (!seq.Request.IsCancellationRequested) continue;
            seq.Done = true;
            FinishCancelled(seq);
            RetireDecodeRow(i);
        }
        for (int i = draining.Count - 1; i >= 0; i--)
        {
            if (!draining[i].Request.IsCancellationRequested) continue;
            var seq = draining[i];
            draining.RemoveAt(i);
            seq.Overflow = null;
            seq.Request.Events.Complete();
        }
    }

    void StartPrefillGroup()
    {
        if (waiting.Count == 0 || decodeCount >= rows.Length) return;
        int free = rows.Length - decodeCount;
        // A request whose blocks are still being read from disk lets the ones behind it go first.
        int head = 0;
        while (head < waiting.Count && waiting[head].SsdRead is { IsCompleted: false }) head++;
        if (head == waiting.Count) return;
        if (head > 0)
        {
            var ready = waiting[head];
            waiting.RemoveAt(head);
            waiting.Insert(0, ready);
        }
        var first = waiting[0];
        AdoptSsdBlocks(first);
        if (first.GroupSize > free) return;   // an n-group waits until it has a row for every sequence
        if (first.Siblings is not null)
        {
            // Groups prefill alone (B=1): their rows are forked from this one when the prompt is done.
            waiting.RemoveAt(0);
            if (!ReuseCachedPrefix(first))
            {
                first.Row = decodeCount;
                first.Length = 0;
                SetResident(first.Row, null, 0);
            }
            rows[first.Row] = first;
            prefillGroup.Add(first);
            PublishActive();
            Interlocked.Add(ref pending, -first.GroupSize);
            return;
        }
        if (ReuseCachedPrefix(first))
        {
            // A restored prefix continues with B=1 prefill of the rest (ENGINE.md §3: S>1 with past needs B=1).
            waiting.RemoveAt(0);
            rows[first.Row] = first;
            prefillGroup.Add(first);
            PublishActive();
            Interlocked.Decrement(ref pending);
            return;
        }
        int step = PrefillBudget();
        int count = 1, width = first.PromptLength;
        if (width <= step)
        {
            // Several fresh prompts that fit one run together are prefilled as one right-padded batch (W == S).
            while (count < free && count < waiting.Count)
            {
                int w = Math.Max(width, waiting[count].PromptLength);
                if ((long)w * (count + 1) > step || waiting[count].Siblings is not null || waiting[count].SsdRead is not null || HasCachedPrefix(waiting[count])) break;
                width = w;
                count++;
            }
        }
        for (int k = 0; k < count; k++)
        {
            var seq = waiting[k];
            seq.Row = decodeCount + k;
            seq.Length = 0;
            rows[seq.Row] = seq;
            SetResident(seq.Row, null, 0);
            prefillGroup.Add(seq);
        }
        waiting.RemoveRange(0, count);
        PublishActive();
        Interlocked.Add(ref pending, -count);
    }

    void CancelSiblings(Sequence seq)
    {
        if (seq.Siblings is null) return;
        foreach (var sib in seq.Siblings) FinishCancelled(sib);
        seq.Siblings = null;
    }

    void FailGroup(Sequence seq, string message)
    {
        Fail(seq, message);
        if (seq.Siblings is null) return;
        foreach (var sib in seq.Siblings) Fail(sib, message);
        seq.Siblings = null;
    }
}
