using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Continuous-batching engine. One dedicated thread owns the ONNX session, the KV slot rows and all sequence state.
/// HTTP handlers talk to it only through a bounded MPSC command ring (submit/cancel) and read tokens from each request's
/// SPSC event ring; the step loop takes no locks.
/// Invariants: decode rows [0, decodeCount) are contiguous and rows[i].Row == i; at most one prefill group is in flight and
/// its rows lie at or above decodeCount; a retiring decode row is replaced by the last decode row (KV copied), so the
/// decode batch stays contiguous. Each step: commands → cancellations → one batched decode → at most one prefill chunk.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    enum CommandKind : byte { Submit, Cancel }
    readonly record struct Command(CommandKind Kind, GenerationRequest Request, GenerationRequest[]? Group = null);

    readonly EngineOptions options;
    readonly ModelRunner runner;
    readonly TokenVocabulary vocabulary;
    readonly Sampler sampler;
    readonly MpscRing<Command> commands;
    readonly EngineWakeup wakeup = new();
    readonly Thread thread;
    readonly HashSet<int> eos;

    // Engine-thread state.
    readonly Sequence?[] rows;
    int decodeCount;
    readonly List<Sequence> waiting = [];
    readonly List<Sequence> prefillGroup = [];
    readonly List<Sequence> draining = [];
    readonly int[] stepTokens, stepLengths;
    readonly List<int[]> freshPrompts = [];
    readonly float[] forkLogits, forkWork;
    readonly PrefixCache? cache;
    readonly SsdKvTier? ssd;
    // What a free row still holds: KV of residentTokens[r][0..residentLength[r]) (row affinity: a follow-up turn that
    // extends it reuses the row in place). Cleared while a sequence owns the row.
    readonly int[]?[] residentTokens;
    readonly int[] residentLength;

    int pending;            // submitted, not yet given a row (bounded by MaxQueue)
    volatile bool stopping;
    long stepCount;

    public ModelContract Contract => runner.Contract;
    /// <summary>The prefix KV cache, or null when disabled.</summary>
    public PrefixCache? Cache => cache;
    /// <summary>The SSD tier under the prefix cache, or null when disabled.</summary>
    public SsdKvTier? Ssd => ssd;
    public PromptEncoder Prompts { get; }
    public TokenVocabulary Vocabulary => vocabulary;

    /// <summary>Sampling values for the fields a request leaves out.</summary>
    public SamplingDefaults SamplingDefaults { get; private init; } = SamplingDefaults.Neutral;
    public int ContextLength => runner.MaxLen;
    public int MaxBatchSize => options.MaxBatchSize;
    public string ModelId { get; }

    public int ActiveSequences => Volatile.Read(ref activeCount);
    public int WaitingRequests => Volatile.Read(ref pending);
    public long Steps => Interlocked.Read(ref stepCount);
    int activeCount;
    long promptTokensTotal, generatedTokensTotal;
    public long PromptTokensTotal => Interlocked.Read(ref promptTokensTotal);
    long cachedPromptTokensTotal;
    /// <summary>Prompt tokens whose KV came from the prefix cache or a row's resident KV instead of a prefill.</summary>
    public long CachedPromptTokensTotal => Interlocked.Read(ref cachedPromptTokensTotal);
    public long GeneratedTokensTotal => Interlocked.Read(ref generatedTokensTotal);

    /// <summary>Test hook into the runner: called before every model run (true for prefill); throw to simulate a failure.</summary>
    internal Action<bool>? BeforeRun { set => runner.BeforeRun = value; }
    internal ModelRunner Runner => runner;

    /// <summary>Test hook: called for every sampled token with its request and 0-based index among the generated ones; an
    /// id returned replaces the sampled token (its logprob stays the sampled one's). Lets tests script a model's output.</summary>
    internal Func<GenerationRequest, int, int?>? TokenScript { get; set; }

    /// <summary>Bytes of process memory (mostly the weights) collapsed into transparent huge pages at start.</summary>
    public long HugePageBytes { get; private set; }

    InferenceEngine(EngineOptions options, ModelRunner runner, TokenVocabulary vocabulary, PromptEncoder prompts, PrefixCache? cache, SsdKvTier? ssd)
    {
        this.cache = cache;
        this.ssd = ssd;
        if (cache is not null && ssd is not null)
            cache.Spill = (hash, parent, tokens, bytes) => ssd.TryEnqueueWrite(hash, parent, tokens, bytes);
        residentTokens = new int[]?[options.MaxBatchSize];
        residentLength = new int[options.MaxBatchSize];
        this.options = options;
        this.runner = runner;
        this.vocabulary = vocabulary;
        Prompts = prompts;
        ModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(runner.Contract.Directory));
        sampler = new Sampler(runner.VocabSize);
        forkLogits = new float[runner.VocabSize];
        forkWork = new float[runner.VocabSize];
        commands = new MpscRing<Command>((int)Math.Min(1 << 20, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(options.MaxQueue * 2 + 64))));
        rows = new Sequence?[options.MaxBatchSize];
        stepTokens = new int[options.MaxBatchSize];
        stepLengths = new int[options.MaxBatchSize];
        eos = [.. runner.Contract.Config.EosTokenIds];
        thread = new Thread(Run) { IsBackground = true, Name = "onnxlm-engine" };
    }

    /// <summary>Loads and checks the model, allocates the slot rows and starts the engine thread.</summary>
    /// <exception cref="ModelFormatException">The folder does not fit the model contract.</exception>
    public static InferenceEngine Start(EngineOptions options)
    {
        if (options.Validate() is { } error) throw new ArgumentException(error);
        var contract = ModelContract.Inspect(options.ModelDirectory);
        var vocabulary = TokenVocabulary.Load(Path.Combine(contract.Directory, "tokenizer.json"));
        // Gemma 3 defines <image_soft_token> past its logits: ids the logits cannot produce are simply never sampled.
        if (vocabulary.Count > contract.Config.VocabSize)
            options.Log?.Invoke($"tokenizer.json defines {vocabulary.Count} ids, the logits {contract.Config.VocabSize}: ids {contract.Config.VocabSize}..{vocabulary.Count - 1} can never be generated");
        if (options.ContextLength > contract.MaxPositions)
            throw new ArgumentException($"--context-length {options.ContextLength} exceeds the model's maximum of {contract.MaxPositions}");
        var plan = PlanMemory(options, contract);
        int maxLen = plan.ContextLength;
        var prompts = new PromptEncoder(contract.Directory, options.ChatTemplate, BosPolicy.Read(contract.Directory, vocabulary));
        ModelRunner? runner = null;
        PrefixCache? cache = null;
        SsdKvTier? ssd = null;
        try
        {
            long residentBefore = Environment.WorkingSet;
            runner = new ModelRunner(contract, options.MaxBatchSize, maxLen, Math.Min(options.PrefillStepSize, maxLen), options.Threads);
            // What loading really took (weights as ORT holds them, prepacked copies, its own buffers; the KV rows are not
            // yet touched): the plan counted the weights by their files, so say so when the session took much more.
            long loaded = Environment.WorkingSet - residentBefore;
            if (plan.Bounded && loaded > plan.WeightsBytes + plan.BuffersBytes + (64L << 20))
                options.Log?.Invoke($"memory: loading took {MemoryPlan.Format(loaded)} resident, {MemoryPlan.Format(loaded - plan.WeightsBytes)} more " +
                    $"than the weights' files ({MemoryPlan.Format(plan.WeightsBytes)}) the plan counted: at full load the server may exceed its budget by that much");
            if (options.PrefixCache)
            {
                int bits = options.KvBits == 0 ? runner.Contract.KvElementSize * 8 : options.KvBits;
                var fingerprint = ModelFingerprint.Compute(runner.Contract, options.BlockSize, bits);
                cache = new PrefixCache(runner, options.BlockSize, bits, options.KvGroupSize, plan.PrefixCacheBytes, fingerprint);
                if (options.SsdCache)
                {
                    ssd = new SsdKvTier(new SsdTierOptions
                    {
                        Directory = options.KvCacheDir ?? SsdKvTier.DefaultDirectory(),
                        Fingerprint = fingerprint,
                        Layout = cache.Layout,
                        Ttl = TimeSpan.FromDays(options.SsdTtlDays),
                        MaxBytes = options.SsdMaxBytes,
                        Log = options.Log,
                    });
                    if (ssd.Mode == SsdTierMode.Disabled)
                    {
                        ssd.Dispose();
                        ssd = null;
                    }
                }
            }
            var engine = new InferenceEngine(options, runner, vocabulary, prompts, cache, ssd)
            {
                SamplingDefaults = options.ModelSamplingDefaults ? SamplingDefaults.Load(contract.Directory) : SamplingDefaults.Neutral,
                Memory = plan,
            };
            engine.thread.Start();
            return engine;
        }
        catch
        {
            ssd?.Dispose();
            cache?.Dispose();
            runner?.Dispose();
            prompts.Dispose();
            throw;
        }
    }

    /// <summary>The start-up memory arithmetic: the context it chose, the pool size, the budget.</summary>
    /// <exception cref="MemoryBudgetException">The requested context, or the shortest useful one, does not fit.</exception>
    static MemoryPlan PlanMemory(EngineOptions options, ModelContract contract)
    {
        int bits = options.KvBits == 0 ? contract.KvElementSize * 8 : options.KvBits;
        var c = contract.Config;
        var layout = new KvBlockLayout(c.NumLayers, c.NumKvHeads, c.HeadSize, options.BlockSize, contract.KvElementSize, bits, options.KvGroupSize);
        var machine = options.MachineMemory is { } probe ? probe.Read() : SystemMemory.AtStart();
        return MemoryPlan.Compute(contract, new MemoryPlanRequest
        {
            Slots = options.MaxBatchSize,
            PrefillStepSize = options.PrefillStepSize,
            ContextLength = options.ContextLength,
            BudgetBytes = options.MemoryBudget,
            PrefixCache = options.PrefixCache,
            PrefixCacheBytes = options.KvCacheMemory,
            DefaultPrefixCacheBytes = EngineOptions.DefaultCacheMemory(),
            PrefixBlockBytes = layout.BlockBytes,
        }, machine, OperatingSystem.IsMacOS());
    }

    /// <summary>The start-up memory arithmetic (logged by the server): budget, pool, chosen context.</summary>
    public MemoryPlan Memory { get; private init; } = null!;

    /// <summary>Checks a request against the context before it is queued; returns an error message or null.</summary>
    public string? CheckFits(int promptTokens, int maxTokens)
    {
        if (promptTokens == 0) return "the prompt is empty";
        if (promptTokens >= ContextLength)
            return $"This model's maximum context length is {ContextLength} tokens. However, your prompt has {promptTokens} tokens.";
        if ((long)promptTokens + maxTokens > ContextLength)
            return $"This model's maximum context length is {ContextLength} tokens. However, you requested {(long)promptTokens + maxTokens} tokens ({promptTokens} in the prompt, {maxTokens} for the completion).";
        return null;
    }

    /// <summary>True once shutdown or draining began: submissions are refused (the caller answers 503, not 429).</summary>
    public bool IsStopping => stopping || !accepting;

    /// <summary>True once the warm-up run finished: the first real request does not pay for kernel initialisation.</summary>
    public bool IsReady => Volatile.Read(ref ready);

    volatile bool accepting = true;
    volatile bool cancelAll;
    bool ready;

    /// <summary>Starts draining: new submissions are refused; running and queued requests go on.</summary>
    public void StopAccepting()
    {
        accepting = false;
        wakeup.Signal();
    }

    /// <summary>Cancels every queued and running request (the end of a drain timeout).</summary>
    public void CancelAll()
    {
        cancelAll = true;
        wakeup.Signal();
    }

    /// <summary>Waits until no request is queued or running, or the timeout passes; true when idle.</summary>
    public async Task<bool> WaitForIdleAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (ActiveSequences > 0 || WaitingRequests > 0 || draining.Count > 0)
        {
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(10, ct);
        }
        return true;
    }

    /// <summary>Queues a request. False when the queue is full (the caller answers 429) or the engine is stopping.</summary>
    public bool TrySubmit(GenerationRequest request)
    {
        if (stopping || !accepting) return false;
        if (Interlocked.Increment(ref pending) > options.MaxQueue || !commands.TryEnqueue(new Command(CommandKind.Submit, request)))
        {
            Interlocked.Decrement(ref pending);
            return false;
        }
        wakeup.Signal();
        return true;
    }

    /// <summary>
    /// Queues several requests for the same prompt (OpenAI <c>n</c>): the prompt is prefilled once and its KV forked into
    /// one row per request. False when the queue is full, the engine is stopping, or the group is larger than the batch.
    /// </summary>
    public bool TrySubmitGroup(GenerationRequest[] group)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (group.Length == 1) return TrySubmit(group[0]);
        if (group.Length == 0 || group.Length > options.MaxBatchSize)
            throw new ArgumentOutOfRangeException(nameof(group), $"a group holds 1 to {options.MaxBatchSize} requests");
        foreach (var r in group)
            if (!r.PromptTokens.AsSpan().SequenceEqual(group[0].PromptTokens))
                throw new ArgumentException("all requests of a group share one prompt", nameof(group));
        if (stopping || !accepting) return false;
        if (Interlocked.Add(ref pending, group.Length) > options.MaxQueue || !commands.TryEnqueue(new Command(CommandKind.Submit, group[0], group)))
        {
            Interlocked.Add(ref pending, -group.Length);
            return false;
        }
        wakeup.Signal();
        return true;
    }

    /// <summary>Asks the engine to drop a request; it leaves the batch at the next step and its row is free again.</summary>
    public void Cancel(GenerationRequest request)
    {
        if (!request.MarkCancelled()) return;
        // The flag alone is enough (the engine scans it every step); the command only wakes an idle engine sooner.
        commands.TryEnqueue(new Command(CommandKind.Cancel, request));
        wakeup.Signal();
    }

    void Run()
    {
        WarmUp();
        while (!stopping)
        {
            try
            {
                if (!Step()) wakeup.Wait(100);
            }
            catch (Exception e)
            {
                // A bug in the loop itself (not a model run): fail everything in flight rather than wedge the thread.
                FailAll("internal engine error: " + e.Message);
            }
        }
        FailAll("the server is shutting down");
    }

    /// <summary>
    /// One tiny prefill and decode on row 0 before serving, so kernel set-up and first-touch page faults are not paid by
    /// the first request. Row 0 is free and unclaimed at this point; nothing is kept from it.
    /// </summary>
    void WarmUp()
    {
        if (options.HugePages)
        {
            // On the engine thread, before readiness: the first requests do not compete with the copy.
            long start = Stopwatch.GetTimestamp();
            try
            {
                HugePageBytes = HugePages.CollapseResident();
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // A C library without madvise/mincore under the name "libc" (not glibc): serve on small pages.
                options.Log?.Invoke("huge pages unavailable: " + e.Message);
            }
            var took = Stopwatch.GetElapsedTime(start);
            if (HugePageBytes > 0)
                options.Log?.Invoke($"weights: {HugePageBytes >> 20} MiB moved to huge pages in {took.TotalMilliseconds:F0} ms");
        }
        try
        {
            int token = Math.Max(runner.Contract.Config.BosTokenId, 0);
            runner.Prefill(0, 0, [token]);
            runner.Decode(1, [token], [1]);
        }
        catch (Exception)
        {
            // A model that cannot run one token will fail its first request with the real error.
        }
        Volatile.Write(ref ready, true);
    }

    /// <summary>One scheduler step; false when there was nothing to do.</summary>
    internal bool Step()
    {
        DrainCommands();
        ApplyCancellations();
        FlushDraining();
        bool worked = false;
        if (decodeCount > 0)
        {
            // Steady state = a decode step with nothing admitted, finished or prefilled around it: measure what it allocates.
            bool steady = prefillGroup.Count == 0 && waiting.Count == 0;
            long before = steady ? GC.GetAllocatedBytesForCurrentThread() : 0;
            int batch = decodeCount;
            DecodeStep();
            if (steady && decodeCount == batch)
            {
                steadyDecodeAllocated += GC.GetAllocatedBytesForCurrentThread() - before;
                steadyDecodeSteps++;
            }
            worked = true;
        }
        if (prefillGroup.Count == 0) StartPrefillGroup();
        if (prefillGroup.Count > 0)
        {
            PrefillStep();
            worked = true;
        }
        if (worked) Interlocked.Increment(ref stepCount);
        PublishActive();
        return worked || draining.Count > 0;
    }

    /// <summary>
    /// Makes admitted sequences visible to other threads' <see cref="ActiveSequences"/> before they leave the pending count,
    /// so a request is always counted in one of the two (a drain never sees a false idle).
    /// </summary>
    void PublishActive()
    {
        int active = decodeCount;
        foreach (var seq in prefillGroup) active += seq.GroupSize;   // an n-group's siblings are admitted with it
        Volatile.Write(ref activeCount, active);
    }

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

    void DecodeStep()
    {
        int b = decodeCount;
        for (int i = 0; i < b; i++)
        {
            var seq = rows[i]!;
            stepTokens[i] = seq.NextToken;
            stepLengths[i] = seq.Length;
        }
        try
        {
            runner.Decode(b, stepTokens, stepLengths);
        }
        catch (Exception e)
        {
            for (int i = b - 1; i >= 0; i--)
            {
                var seq = rows[i]!;
                rows[i] = null;
                seq.Row = -1;
                residentTokens[i] = null;   // the failed run may have left the row half-written
                Fail(seq, "model run failed: " + e.Message);
            }
            decodeCount = 0;
            return;
        }
        for (int i = 0; i < b; i++)
        {
            var seq = rows[i]!;
            seq.Length++;
            if (cache is not null && seq.Length % cache.BlockSize == 0) CommitBlocks(seq);
            var token = sampler.Sample(runner.DecodeLogits(i), seq.Sampler);
            Accept(seq, token, token.Logprob);
        }
        Interlocked.Add(ref generatedTokensTotal, b);
        for (int i = b - 1; i >= 0; i--)
            if (rows[i]!.Done) RetireDecodeRow(i);
    }

    /// <summary>Removes decode row <paramref name="i"/>, moving the last decode row into the hole.</summary>
    void RetireDecodeRow(int i)
    {
        var seq = rows[i]!;
        seq.Row = -1;
        int last = decodeCount - 1;
        if (i != last)
        {
            var moved = rows[last]!;
            runner.CopyRow(last, i, moved.Length);
            moved.Row = i;
            rows[i] = moved;
            // The last row keeps a copy of the moved sequence's prefix; the retiring sequence's KV is overwritten.
            SetResident(last, moved.Tokens, moved.Length);
        }
        else SetResident(i, seq.Tokens, seq.Length);
        rows[last] = null;
        decodeCount--;
    }

    void SetResident(int row, int[]? tokens, int length)
    {
        // Row affinity is the sequence-level half of the prefix cache: off together with it.
        residentTokens[row] = length > 0 && cache is not null ? tokens : null;
        residentLength[row] = length;
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

    /// <summary>
    /// Prompt tokens this step's prefill may run: <see cref="EngineOptions.PrefillStepSize"/>, or the smaller
    /// <see cref="EngineOptions.DecodePrefillTokens"/> while other sequences are decoding, because they wait for the
    /// prefill before their next token (decode-first bounds their inter-token latency by one decode plus one prefill run).
    /// </summary>
    int PrefillBudget() =>
        decodeCount > 0 && options.DecodePrefillTokens > 0 ? Math.Min(runner.MaxPrefillTokens, options.DecodePrefillTokens) : runner.MaxPrefillTokens;

    void PrefillStep()
    {
        if (prefillGroup.Count == 1)
        {
            var seq = prefillGroup[0];
            int chunk = Math.Min(PrefillBudget(), seq.PromptLength - seq.Length);
            Span<float> logits;
            try
            {
                logits = runner.Prefill(seq.Row, seq.Length, seq.Request.PromptTokens.AsSpan(seq.Length, chunk));
            }
            catch (Exception e)
            {
                prefillGroup.Clear();
                DropRow(seq);
                FailGroup(seq, "model run failed: " + e.Message);
                return;
            }
            seq.Length += chunk;
            Interlocked.Add(ref promptTokensTotal, chunk);
            CommitBlocks(seq);
            if (seq.Length < seq.PromptLength) return;
            prefillGroup.Clear();
            FirstToken(seq, logits);
            return;
        }

        freshPrompts.Clear();
        foreach (var seq in prefillGroup) freshPrompts.Add(seq.Request.PromptTokens);
        int firstRow = prefillGroup[0].Row, s;
        try
        {
            s = runner.PrefillFresh(firstRow, freshPrompts);
        }
        catch (Exception e)
        {
            foreach (var seq in prefillGroup)
            {
                DropRow(seq);
                Fail(seq, "model run failed: " + e.Message);
            }
            prefillGroup.Clear();
            return;
        }
        for (int k = 0; k < prefillGroup.Count; k++)
        {
            var seq = prefillGroup[k];
            seq.Length = seq.PromptLength;
            Interlocked.Add(ref promptTokensTotal, seq.PromptLength);
            CommitBlocks(seq);
            FirstToken(seq, runner.PrefillLogits(k * s + seq.PromptLength - 1));
        }
        prefillGroup.Clear();
    }

    /// <summary>Samples a freshly prefilled sequence's first token, then moves it into the decode batch (or frees it).</summary>
    void FirstToken(Sequence seq, Span<float> logits)
    {
        var siblings = seq.Siblings;
        seq.Siblings = null;
        if (siblings is not null) logits.CopyTo(forkLogits);   // the sampler edits logits in place
        var token = sampler.Sample(logits, seq.Sampler);
        Interlocked.Increment(ref generatedTokensTotal);
        Accept(seq, token, token.Logprob);
        bool alive = !seq.Done && !seq.Request.IsCancellationRequested;
        if (siblings is not null)
        {
            // Put the parent at decodeCount first, so forked rows go above it and the batch stays contiguous.
            MoveToRow(seq, decodeCount);
            Fork(seq, siblings);
        }
        if (alive)
        {
            MoveToRow(seq, decodeCount);
            decodeCount++;
        }
        else
        {
            FreeRow(seq);
            if (!seq.Done) FinishCancelled(seq);
        }
        foreach (var sib in pendingJoins)
        {
            MoveToRow(sib, decodeCount);
            decodeCount++;
        }
        pendingJoins.Clear();
    }

    /// <summary>
    /// Gives each sibling of a just-prefilled sequence its own row holding a copy of the prompt KV and samples its first
    /// token from the same logits with its own sampler. Rows were reserved at admission (a group waits for enough rows).
    /// </summary>
    void Fork(Sequence parent, List<Sequence> siblings)
    {
        foreach (var sib in siblings)
        {
            if (sib.Request.IsCancellationRequested)
            {
                FinishCancelled(sib);
                continue;
            }
            int row = FreeRowAbove(parent.Row);
            runner.CopyRow(parent.Row, row, parent.Length);
            SetResident(row, null, 0);
            sib.Row = row;
            sib.Length = parent.Length;
            sib.CachedTokens = parent.CachedTokens;
            rows[row] = sib;
            cache?.AcquireCopy(parent.Blocks, sib.Blocks);
            forkLogits.CopyTo(forkWork, 0);
            var token = sampler.Sample(forkWork, sib.Sampler);
            Interlocked.Increment(ref generatedTokensTotal);
            Accept(sib, token, token.Logprob);
            if (sib.Done) FreeRow(sib);
            else pendingJoins.Add(sib);
        }
    }

    readonly List<Sequence> pendingJoins = [];

    /// <summary>The first free row above <paramref name="row"/>.</summary>
    int FreeRowAbove(int row)
    {
        for (int r = row + 1; r < rows.Length; r++)
            if (rows[r] is null) return r;
        throw new InvalidOperationException("no free row for a forked sequence (rows are reserved at admission)");
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

    /// <summary>Moves a sequence's KV to <paramref name="target"/> (a free row at or above decodeCount) if it is elsewhere.</summary>
    void MoveToRow(Sequence seq, int target)
    {
        if (seq.Row == target) return;
        Debug.Assert(seq.Row > target && rows[target] is null);
        runner.CopyRow(seq.Row, target, seq.Length);
        rows[seq.Row] = null;
        SetResident(seq.Row, seq.Tokens, seq.Length);
        SetResident(target, null, 0);
        seq.Row = target;
        rows[target] = seq;
    }

    void FreeRow(Sequence seq)
    {
        if (seq.Row >= 0 && rows[seq.Row] == seq)
        {
            rows[seq.Row] = null;
            SetResident(seq.Row, seq.Tokens, seq.Length);
        }
        seq.Row = -1;
    }

    /// <summary>Frees the row after a failed run: its KV may be half-written, so it is not kept as resident.</summary>
    void DropRow(Sequence seq)
    {
        int row = seq.Row;
        FreeRow(seq);
        if (row >= 0) SetResident(row, null, 0);
    }

    /// <summary>Looks the prompt up in the block cache once (it takes references on the blocks found).</summary>
    int LookupBlocks(Sequence seq)
    {
        if (cache is null) return 0;
        if (!seq.LookedUp)
        {
            seq.LookedUp = true;
            // At least one prompt token is always prefilled: its logits give the first generated token.
            cache.Lookup(seq.Request.PromptTokens, (seq.PromptLength - 1) / cache.BlockSize, seq.Blocks);
        }
        return seq.Blocks.Count * cache.BlockSize;
    }

    bool HasCachedPrefix(Sequence seq) => LookupBlocks(seq) > 0 || BestResidentRow(seq, out _) > 0;

    /// <summary>Longest common prefix (capped one short of the prompt) between the prompt and any free row's resident KV.</summary>
    int BestResidentRow(Sequence seq, out int bestRow)
    {
        bestRow = -1;
        int best = 0;
        var prompt = seq.Request.PromptTokens.AsSpan(0, seq.PromptLength - 1);
        for (int r = decodeCount; r < rows.Length; r++)
        {
            if (rows[r] is not null || residentTokens[r] is not { } resident) continue;
            int lcp = prompt.CommonPrefixLength(resident.AsSpan(0, residentLength[r]));
            if (lcp > best || (lcp == best && lcp > 0 && r == decodeCount))
            {
                best = lcp;
                bestRow = r;
            }
        }
        return best;
    }

    /// <summary>
    /// Places <paramref name="seq"/> in row decodeCount with as much of its prompt's KV as the cache can give: a free row
    /// that already holds the prefix (reused in place, or copied when it is another row) or the block chain (copied in).
    /// False when nothing is cached for it.
    /// </summary>
    bool ReuseCachedPrefix(Sequence seq)
    {
        int blocks = LookupBlocks(seq);
        int resident = BestResidentRow(seq, out int residentRow);
        int target = decodeCount;
        if (resident == 0 && blocks == 0) return false;
        if (resident >= blocks)
        {
            if (residentRow != target) runner.CopyRow(residentRow, target, resident);
            seq.Length = resident;
        }
        else
        {
            cache!.Restore(target, seq.Blocks, seq.Blocks.Count);
            seq.Length = blocks;
        }
        SetResident(target, null, 0);
        seq.Row = target;
        seq.CachedTokens = seq.Length;
        Interlocked.Add(ref cachedPromptTokensTotal, seq.Length);
        return true;
    }

    /// <summary>Commits every whole block of the sequence's KV not yet in its chain (stops at the first that cannot be).</summary>
    void CommitBlocks(Sequence seq)
    {
        if (cache is null) return;
        int bs = cache.BlockSize;
        for (int j = seq.Blocks.Count; (j + 1) * bs <= seq.Length; j++)
        {
            if (!cache.Commit(seq.Row, j, seq.Tokens.AsSpan(j * bs, bs), seq.Blocks)) break;
            if (ssd is not null && options.SsdWriteThrough)
            {
                int b = seq.Blocks[^1];
                ssd.TryEnqueueWrite(cache.HashOf(b), cache.ParentHashOf(b), cache.TokensOf(b), cache.BlockBytes(b));
            }
        }
    }

    /// <summary>
    /// When a request arrives: look its prompt up in RAM, and if the chain goes on in the SSD tier, start reading those
    /// blocks on the thread pool right away, so they are in memory by the time the request gets a row.
    /// </summary>
    void StartSsdRead(Sequence seq)
    {
        if (ssd is null || cache is null) return;
        int bs = cache.BlockSize;
        int max = (seq.PromptLength - 1) / bs;
        int inRam = LookupBlocks(seq) / bs;
        if (inRam >= max) return;
        UInt128 parent = inRam == 0 ? default : cache.HashOf(seq.Blocks[^1]);
        var hashes = new UInt128[max - inRam];
        int found = ssd.LookupChain(seq.Request.PromptTokens, inRam, parent, max - inRam, hashes);
        if (found == 0) return;
        seq.SsdHashes = hashes[..found];
        seq.SsdFirstBlock = inRam;
        seq.SsdStaging = GC.AllocateUninitializedArray<byte>((int)Math.Min(int.MaxValue, found * cache.Layout.BlockBytes));
        int fit = (int)(seq.SsdStaging.Length / cache.Layout.BlockBytes);
        if (fit < found) seq.SsdHashes = seq.SsdHashes[..fit];
        var read = ssd.ReadChainAsync(seq.Request.PromptTokens, inRam, parent, seq.SsdHashes, seq.SsdStaging);
        seq.SsdRead = read;
        read.ContinueWith(static (_, state) => ((EngineWakeup)state!).Signal(), wakeup, TaskScheduler.Default);
    }

    /// <summary>Moves blocks read from the SSD tier into the RAM pool (and the sequence's chain), once the read is done.</summary>
    void AdoptSsdBlocks(Sequence seq)
    {
        if (seq.SsdRead is not { } read || cache is null) return;
        int ok = read.IsCompletedSuccessfully ? read.Result : 0;
        int bs = cache.BlockSize;
        long blockBytes = cache.Layout.BlockBytes;
        // Only a chain that continues exactly where RAM stopped can be adopted.
        if (seq.Blocks.Count == seq.SsdFirstBlock)
        {
            for (int j = 0; j < ok; j++)
            {
                var tokens = seq.Request.PromptTokens.AsSpan((seq.SsdFirstBlock + j) * bs, bs);
                if (!cache.TryAdopt(seq.SsdHashes![j], tokens, seq.Blocks, out var destination)) break;
                seq.SsdStaging.AsSpan((int)(j * blockBytes), destination.Length).CopyTo(destination);
            }
        }
        seq.SsdRead = null;
        seq.SsdStaging = null;
        seq.SsdHashes = null;
    }

    void ReleaseBlocks(Sequence seq)
    {
        if (cache is not null && seq.Blocks.Count > 0) cache.ReleaseAll(seq.Blocks);
    }

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

    void FailAll(string message)
    {
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] is { } seq && !seq.Done) FailGroup(seq, message);
            rows[i] = null;
        }
        decodeCount = 0;
        prefillGroup.Clear();
        foreach (var seq in waiting)
        {
            Interlocked.Add(ref pending, -seq.GroupSize);
            FailGroup(seq, message);
        }
        waiting.Clear();
        while (commands.TryDequeue(out var cmd))
        {
            if (cmd.Kind != CommandKind.Submit) continue;
            foreach (var r in cmd.Group ?? [cmd.Request])
            {
                Interlocked.Decrement(ref pending);
                Fail(NewSequence(r), message);
            }
        }
        foreach (var seq in draining)
        {
            FlushOverflow(seq);
            seq.Request.Events.Complete();
        }
        draining.Clear();
    }

    /// <summary>Test hook (engine idle only): the fp32 KV of positions [0, n) of a row, all layers, K and V, all kv heads.</summary>
    internal float[] SnapshotRow(int row, int positions)
    {
        var c = runner.Contract.Config;
        var all = new List<float>();
        for (int l = 0; l < c.NumLayers; l++)
            for (int kv = 0; kv < 2; kv++)
                for (int h = 0; h < c.NumKvHeads; h++)
                    all.AddRange(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(runner.RowBytes(row, l, kv == 1, h, positions)).ToArray());
        return [.. all];
    }

    /// <summary>Test hook (engine idle only): restores the cached blocks of a prompt into a row; returns the positions restored.</summary>
    internal int RestoreForTest(int[] prompt, int row)
    {
        var held = new List<int>();
        int n = cache!.Lookup(prompt, (prompt.Length - 1) / cache.BlockSize, held);
        cache.Restore(row, held, n);
        cache.ReleaseAll(held);
        return n * cache.BlockSize;
    }

    long steadyDecodeAllocated, steadyDecodeSteps;

    /// <summary>Bytes the engine thread allocated over all steady-state decode steps, and how many there were.</summary>
    public (long Bytes, long Steps) SteadyDecodeAllocation => (Interlocked.Read(ref steadyDecodeAllocated), Interlocked.Read(ref steadyDecodeSteps));

    /// <summary>Snapshot for tests: which rows hold a sequence (by request id).</summary>
    internal long[] RowOwners()
    {
        var owners = new long[rows.Length];
        for (int i = 0; i < rows.Length; i++) owners[i] = rows[i]?.Request.Id ?? 0;
        return owners;
    }

    /// <summary>
    /// At shutdown, queues every block that lives only in RAM for the SSD tier (already-persisted ones are skipped by the
    /// tier), waiting for queue room within <paramref name="budget"/>, so a restart finds the conversations of this run.
    /// </summary>
    static void PersistCachedBlocks(SsdKvTier ssd, PrefixCache cache, TimeSpan budget)
    {
        if (ssd.Mode != SsdTierMode.ReadWrite) return;
        var deadline = DateTime.UtcNow + budget;
        cache.SpillAll((hash, parent, tokens, bytes) =>
        {
            while (!ssd.TryEnqueueWrite(hash, parent, tokens, bytes))
            {
                if (ssd.WritingStopped || DateTime.UtcNow > deadline) return false;
                Thread.Sleep(1);
            }
            return true;
        });
    }

    public void Dispose()
    {
        if (stopping) return;
        stopping = true;
        wakeup.Signal();
        thread.Join();
        if (ssd is not null && cache is not null) PersistCachedBlocks(ssd, cache, TimeSpan.FromSeconds(10));
        ssd?.Dispose();
        cache?.Dispose();
        runner.Dispose();
        Prompts.Dispose();
    }
}
