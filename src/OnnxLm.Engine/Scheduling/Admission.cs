using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// The way in: submissions and cancellations from other threads (a bounded MPSC command ring), the waiting queue, and
/// the choice of the next prefill group. Invariant: every submitted sequence is counted in exactly one of
/// <see cref="EngineCounters.Pending"/> (queued) and <see cref="EngineCounters.Active"/> (holding a row): admission
/// publishes Active before it lowers Pending, so a drain never sees a false idle. At most one prefill group is in flight;
/// its rows lie at or above the decode rows. Submitting is thread-safe; everything else runs on the engine thread.
/// </summary>
internal sealed class Admission
{
    enum CommandKind : byte { Submit, Cancel }
    readonly record struct Command(CommandKind Kind, GenerationRequest Request, GenerationRequest[]? Group = null);

    readonly EngineOptions options;
    readonly MpscRing<Command> commands;
    readonly EngineWakeup wakeup;
    readonly EngineCounters counters;
    readonly SlotRowTable rows;
    readonly PrefixReuse prefixes;
    readonly TokenPipeline pipeline;
    readonly TokenVocabulary vocabulary;
    readonly Sampler sampler;
    readonly int maxLen, maxPrefillTokens;
    readonly List<Sequence> waiting = [];
    readonly List<Sequence> prefillGroup = [];
    volatile bool cancelAll;

    public Admission(EngineOptions options, EngineWakeup wakeup, EngineCounters counters, SlotRowTable rows, PrefixReuse prefixes,
        TokenPipeline pipeline, TokenVocabulary vocabulary, Sampler sampler, int maxLen, int maxPrefillTokens)
    {
        this.options = options;
        this.wakeup = wakeup;
        this.counters = counters;
        this.rows = rows;
        this.prefixes = prefixes;
        this.pipeline = pipeline;
        this.vocabulary = vocabulary;
        this.sampler = sampler;
        this.maxLen = maxLen;
        this.maxPrefillTokens = maxPrefillTokens;
        commands = new MpscRing<Command>((int)Math.Min(1 << 20, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(options.MaxQueue * 2 + 64))));
    }

    /// <summary>The sequences being prefilled this step: one (maybe continuing, maybe an n-group's parent) or several
    /// fresh prompts prefilled as one right-padded batch.</summary>
    public List<Sequence> PrefillGroup => prefillGroup;
    public bool HasWaiting => waiting.Count > 0;

    /// <summary>Queues a group of requests (one unless OpenAI <c>n</c>); false when the queue is full.</summary>
    public bool TryEnqueue(GenerationRequest first, GenerationRequest[]? group)
    {
        int size = group?.Length ?? 1;
        if (Interlocked.Add(ref counters.Pending, size) > options.MaxQueue || !commands.TryEnqueue(new Command(CommandKind.Submit, first, group)))
        {
            Interlocked.Add(ref counters.Pending, -size);
            return false;
        }
        wakeup.Signal();
        return true;
    }

    /// <summary>Wakes the engine for a request already marked cancelled (the flag alone is enough; this is sooner).</summary>
    public void NotifyCancelled(GenerationRequest request)
    {
        commands.TryEnqueue(new Command(CommandKind.Cancel, request));
        wakeup.Signal();
    }

    /// <summary>Cancels every queued and running request at the next step.</summary>
    public void CancelAll()
    {
        cancelAll = true;
        wakeup.Signal();
    }

    /// <summary>
    /// Makes admitted sequences visible to other threads' active count before they leave the pending count, so a request
    /// is always counted in one of the two; finished sequences whose events wait for ring room stay unfinished.
    /// </summary>
    public void PublishActive()
    {
        int active = rows.DecodeCount;
        foreach (var seq in prefillGroup) active += seq.GroupSize;   // an n-group's siblings are admitted with it
        Volatile.Write(ref counters.Unfinished, active + pipeline.Draining.Count);
        Volatile.Write(ref counters.Active, active);
    }

    public void DrainCommands()
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
                if (cmd.Request.PromptTokens.Length == 0 || cmd.Request.PromptTokens.Length >= maxLen)
                {
                    Interlocked.Add(ref counters.Pending, -seq.GroupSize);
                    pipeline.FailGroup(seq, $"prompt of {cmd.Request.PromptTokens.Length} tokens does not fit the context of {maxLen}");
                    continue;
                }
                if (cmd.Request.Grammar is not null) pipeline.Grammar.CountRequest();
                waiting.Add(seq);
                prefixes.StartTierRead(seq);
            }
            // Cancel commands only wake the loop; ApplyCancellations reads the flag.
        }
    }

    Sequence NewSequence(GenerationRequest request) => new(request, vocabulary, sampler, maxLen, prefixes.BlockSize)
    {
        Matcher = request.Grammar is { } grammar && request.Tools is null ? pipeline.Grammar.NewMatcher(grammar) : null,
        Tools = request.Tools is { } tools ? pipeline.Grammar.NewToolMatcher(tools) : null,
        Constrained = request.Grammar is not null || request.Tools is not null,
    };

    /// <summary>Ends every cancelled sequence, wherever it is: waiting, prefilling, decoding or draining.</summary>
    public void ApplyCancellations()
    {
        if (cancelAll)
        {
            cancelAll = false;
            foreach (var seq in waiting) seq.Request.MarkCancelled();
            foreach (var seq in prefillGroup) seq.Request.MarkCancelled();
            for (int i = 0; i < rows.DecodeCount; i++) rows[i]!.Request.MarkCancelled();
        }
        for (int i = waiting.Count - 1; i >= 0; i--)
        {
            if (!waiting[i].Request.IsCancellationRequested) continue;
            var seq = waiting[i];
            waiting.RemoveAt(i);
            Interlocked.Add(ref counters.Pending, -seq.GroupSize);
            pipeline.FinishCancelled(seq);
            pipeline.CancelSiblings(seq);
        }
        for (int i = prefillGroup.Count - 1; i >= 0; i--)
        {
            if (!prefillGroup[i].Request.IsCancellationRequested) continue;
            var seq = prefillGroup[i];
            prefillGroup.RemoveAt(i);
            rows.FreeRow(seq);
            pipeline.FinishCancelled(seq);
            pipeline.CancelSiblings(seq);   // a group is one client request: it goes away as a whole
        }
        for (int i = rows.DecodeCount - 1; i >= 0; i--)
        {
            var seq = rows[i]!;
            if (!seq.Request.IsCancellationRequested) continue;
            pipeline.FinishCancelled(seq);
            rows.RetireDecodeRow(i);
        }
        pipeline.DropCancelledDraining();
    }

    /// <summary>Chooses the next prefill group from the head of the waiting queue and gives it rows.</summary>
    public void StartPrefillGroup()
    {
        if (prefillGroup.Count > 0 || waiting.Count == 0 || rows.DecodeCount >= rows.Count) return;
        int free = rows.Count - rows.DecodeCount;
        // A request whose blocks are still being read (SSD, Redis) lets the ones behind it go first.
        int head = 0;
        while (head < waiting.Count && waiting[head].TierRead is { IsCompleted: false }) head++;
        if (head == waiting.Count) return;
        if (head > 0)
        {
            var ready = waiting[head];
            waiting.RemoveAt(head);
            waiting.Insert(0, ready);
        }
        var first = waiting[0];
        prefixes.AdoptTierBlocks(first);
        if (first.GroupSize > free) return;   // an n-group waits until it has a row for every sequence
        if (first.Siblings is not null)
        {
            // Groups prefill alone (B=1): their rows are forked from this one when the prompt is done.
            waiting.RemoveAt(0);
            if (!prefixes.TryReuse(first, rows))
            {
                first.Length = 0;
                rows.Claim(first, rows.DecodeCount);
            }
            Admit(first, first.GroupSize);
            return;
        }
        if (prefixes.TryReuse(first, rows))
        {
            // A restored prefix continues with B=1 prefill of the rest (docs/ENGINE.md §3: S>1 with past needs B=1).
            waiting.RemoveAt(0);
            Admit(first, 1);
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
                if ((long)w * (count + 1) > step || waiting[count].Siblings is not null || waiting[count].TierRead is not null
                    || prefixes.HasCachedPrefix(waiting[count], rows)) break;
                width = w;
                count++;
            }
        }
        for (int k = 0; k < count; k++)
        {
            var seq = waiting[k];
            seq.Length = 0;
            rows.Claim(seq, rows.DecodeCount + k);
            prefillGroup.Add(seq);
        }
        waiting.RemoveRange(0, count);
        PublishActive();
        Interlocked.Add(ref counters.Pending, -count);
    }

    void Admit(Sequence seq, int admitted)
    {
        prefillGroup.Add(seq);
        PublishActive();
        Interlocked.Add(ref counters.Pending, -admitted);
    }

    /// <summary>
    /// Prompt tokens this step's prefill may run: <see cref="EngineOptions.PrefillStepSize"/>, or the smaller
    /// <see cref="EngineOptions.DecodePrefillTokens"/> while other sequences are decoding, because they wait for the
    /// prefill before their next token (decode-first bounds their inter-token latency by one decode plus one prefill run).
    /// </summary>
    public int PrefillBudget() =>
        rows.DecodeCount > 0 && options.DecodePrefillTokens > 0 ? Math.Min(maxPrefillTokens, options.DecodePrefillTokens) : maxPrefillTokens;

    /// <summary>Fails everything not yet in a row: the prefill group's bookkeeping, the waiting queue, unread submissions.</summary>
    public void FailQueued(string message)
    {
        prefillGroup.Clear();
        foreach (var seq in waiting)
        {
            Interlocked.Add(ref counters.Pending, -seq.GroupSize);
            pipeline.FailGroup(seq, message);
        }
        waiting.Clear();
        while (commands.TryDequeue(out var cmd))
        {
            if (cmd.Kind != CommandKind.Submit) continue;
            foreach (var r in cmd.Group ?? [cmd.Request])
            {
                Interlocked.Decrement(ref counters.Pending);
                pipeline.Fail(NewSequence(r), message);
            }
        }
    }
}
