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
public sealed partial class InferenceEngine : IDisposable
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

    long steadyDecodeAllocated, steadyDecodeSteps;

    /// <summary>Bytes the engine thread allocated over all steady-state decode steps, and how many there were.</summary>
    public (long Bytes, long Steps) SteadyDecodeAllocation => (Interlocked.Read(ref steadyDecodeAllocated), Interlocked.Read(ref steadyDecodeSteps));

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
