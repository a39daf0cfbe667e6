using System.Diagnostics;
using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>
/// Continuous-batching engine: the public API and the step loop. One dedicated thread owns the ONNX session, the KV slot
/// rows and all sequence state; HTTP handlers talk to it only through <see cref="Admission"/>'s command ring and read
/// tokens from each request's SPSC event ring; the step loop takes no locks. Each step: commands → cancellations → one
/// batched decode run → at most one prefill chunk (docs/ENGINE.md §4). The parts, in the order a token meets them:
/// <see cref="Admission"/> (queue, prefill group), <see cref="PrefixReuse"/> (cached KV instead of prefill),
/// <see cref="SlotRowTable"/> (which row is whose, contiguous runs), <see cref="ModelRunner"/> (the runs),
/// <see cref="TokenPipeline"/> (logits → token → events).
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    readonly EngineOptions options;
    readonly ModelRunner runner;
    readonly EngineWakeup wakeup = new();
    readonly Thread thread;
    readonly EngineCounters counters;
    readonly SlotRowTable rows;
    readonly PrefixReuse prefixes;
    readonly TokenPipeline pipeline;
    readonly Admission admission;

    // Engine-thread scratch, sized once.
    readonly int[] stepTokens, stepLengths;
    readonly List<int[]> freshPrompts = [];
    readonly float[] forkLogits, forkWork;
    readonly List<Sequence> pendingJoins = [];

    volatile bool stopping;
    volatile bool accepting = true;
    bool ready;

    public ModelContract Contract => runner.Contract;
    /// <summary>The prefix KV cache, or null when disabled.</summary>
    public PrefixCache? Cache => prefixes.Cache;
    /// <summary>The SSD tier under the prefix cache, or null when disabled.</summary>
    public SsdKvTier? Ssd => prefixes.Ssd;
    /// <summary>The remote KV tier (Redis), or null when <c>--remote-kv</c> is off.</summary>
    public Cache.Remote.RemoteKvTier? Remote => prefixes.Remote;
    public PromptEncoder Prompts { get; }
    public TokenVocabulary Vocabulary { get; }

    /// <summary>Sampling values for the fields a request leaves out.</summary>
    public SamplingDefaults SamplingDefaults { get; private init; } = SamplingDefaults.Neutral;
    public int ContextLength => runner.MaxLen;
    public int MaxBatchSize => options.MaxBatchSize;
    public string ModelId { get; }

    /// <summary>
    /// A snapshot of the engine's statistics, published by the engine thread: this asks for a fresh one and waits for it
    /// up to 100 ms. Snapshots are also published before every request's final event, so they include every request a
    /// client has seen finish.
    /// </summary>
    public EngineStatistics Statistics => counters.Request(wakeup, TimeSpan.FromMilliseconds(100));
    public int ActiveSequences => Volatile.Read(ref counters.Active);
    public int WaitingRequests => Volatile.Read(ref counters.Pending);
    public long Steps => Interlocked.Read(ref counters.Steps);
    public long PromptTokensTotal => Interlocked.Read(ref counters.PromptTokens);
    /// <summary>Prompt tokens whose KV came from the prefix cache or a row's resident KV instead of a prefill.</summary>
    public long CachedPromptTokensTotal => Interlocked.Read(ref counters.CachedPromptTokens);
    public long GeneratedTokensTotal => Interlocked.Read(ref counters.GeneratedTokens);

    /// <summary>Test hook into the runner: called before every model run (true for prefill); throw to simulate a failure.</summary>
    internal Action<bool>? BeforeRun { set => runner.BeforeRun = value; }
    internal ModelRunner Runner => runner;

    /// <summary>Test hook: called for every sampled token with its request and 0-based index among the generated ones; an
    /// id returned replaces the sampled token (its logprob stays the sampled one's). Lets tests script a model's output.</summary>
    internal Func<GenerationRequest, int, int?>? TokenScript { get => pipeline.TokenScript; set => pipeline.TokenScript = value; }

    /// <summary>Compiled <c>response_format</c> schemas by schema text (thread-safe; request threads compile, not the engine).</summary>
    public Constraints.JsonGrammarCache Grammars { get; } = new();

    /// <summary>The vocabulary's byte trie constrained decoding walks (built on first use, thread-safe).</summary>
    public Constraints.TokenTrie GrammarTrie => pipeline.Grammar.Trie;

    /// <summary>Time to compute and apply a grammar mask, sampled (one mask in <see cref="GrammarMask.MaskSampleInterval"/>).</summary>
    public Constraints.DurationHistogram GrammarMaskTimes => pipeline.Grammar.MaskTimes;

    /// <summary>One grammar mask in this many is timed into <see cref="GrammarMaskTimes"/>.</summary>
    public int GrammarMaskSampleInterval => GrammarMask.MaskSampleInterval;

    /// <summary>Requests admitted with a grammar since start (a group of n counts once).</summary>
    public long ConstrainedRequests => pipeline.Grammar.ConstrainedRequests;

    /// <summary>Constrained decoding's hook between logits and sampling (<see cref="TokenPipeline.Next"/>); null: none.</summary>
    internal ILogitMask? LogitMask { get => pipeline.Mask; set => pipeline.Mask = value; }

    /// <summary>Bytes of process memory (mostly the weights) collapsed into transparent huge pages after start-up
    /// (0 until <see cref="HugePagesSettled"/> completes).</summary>
    public long HugePageBytes { get => Volatile.Read(ref hugePageBytes); private set => Volatile.Write(ref hugePageBytes, value); }

    /// <summary>Completes when the post-readiness huge-page collapse is over (at once when it is off or not started):
    /// benchmarks await it so they measure the steady state.</summary>
    public Task HugePagesSettled => Volatile.Read(ref hugePages);

    long hugePageBytes;
    Task hugePages = Task.CompletedTask;
    readonly CancellationTokenSource hugePagesCancel = new();

    InferenceEngine(EngineOptions options, ModelRunner runner, TokenVocabulary vocabulary, PromptEncoder prompts, PrefixCache? cache, SsdKvTier? ssd,
        Cache.Remote.RemoteKvTier? remote)
    {
        this.options = options;
        this.runner = runner;
        Vocabulary = vocabulary;
        Prompts = prompts;
        ModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(runner.Contract.Directory));
        var sampler = new Sampler(runner.VocabSize);
        counters = new EngineCounters(cache, ssd, cache is null ? null : remote);
        rows = new SlotRowTable(runner, options.MaxBatchSize, keepResident: cache is not null);
        prefixes = new PrefixReuse(cache, ssd, remote, options.SsdWriteThrough, runner.MaxLen, wakeup, counters);
        pipeline = new TokenPipeline(sampler, runner.Contract.Config.EosTokenIds, runner.MaxLen, prefixes, counters,
            new GrammarMask(vocabulary, runner.Contract.Config.EosTokenIds));
        admission = new Admission(options, wakeup, counters, rows, prefixes, pipeline, vocabulary, sampler, runner.MaxLen, runner.MaxPrefillTokens);
        forkLogits = new float[runner.VocabSize];
        forkWork = new float[runner.VocabSize];
        stepTokens = new int[options.MaxBatchSize];
        stepLengths = new int[options.MaxBatchSize];
        counters.Publish();
        thread = new Thread(Run) { IsBackground = true, Name = "onnxlm-engine" };
    }

    /// <summary>Loads and checks the model, allocates the slot rows and starts the engine thread.</summary>
    /// <exception cref="ModelFormatException">The folder does not fit the model contract.</exception>
    public static InferenceEngine Start(EngineOptions options)
    {
        var parts = EngineLoader.Load(options);
        try
        {
            var engine = new InferenceEngine(options, parts.Runner, parts.Vocabulary, parts.Prompts, parts.Cache, parts.Ssd, parts.Remote)
            {
                SamplingDefaults = options.ModelSamplingDefaults ? SamplingDefaults.Load(parts.Runner.Contract.Directory) : SamplingDefaults.Neutral,
                Memory = parts.Plan,
            };
            engine.thread.Start();
            return engine;
        }
        catch
        {
            parts.Dispose();
            throw;
        }
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

    /// <summary>Starts draining: new submissions are refused; running and queued requests go on.</summary>
    public void StopAccepting()
    {
        accepting = false;
        wakeup.Signal();
    }

    /// <summary>Cancels every queued and running request (the end of a drain timeout).</summary>
    public void CancelAll() => admission.CancelAll();

    /// <summary>
    /// Waits until no request is queued, running, or finished with events still waiting for ring room, or the timeout
    /// passes; true when idle. Reads only counters the engine thread publishes: the pending count first, because admission
    /// publishes a sequence as unfinished before it leaves the pending count.
    /// </summary>
    public async Task<bool> WaitForIdleAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Volatile.Read(ref counters.Pending) > 0 || Volatile.Read(ref counters.Unfinished) > 0)
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
        return admission.TryEnqueue(request, null);
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
        return admission.TryEnqueue(group[0], group);
    }

    /// <summary>Asks the engine to drop a request; it leaves the batch at the next step and its row is free again.</summary>
    public void Cancel(GenerationRequest request)
    {
        if (!request.MarkCancelled()) return;
        // The flag alone is enough (the engine scans it every step); the command only wakes an idle engine sooner.
        admission.NotifyCancelled(request);
    }

    void Run()
    {
        WarmUp();
        while (!stopping)
        {
            try
            {
                if (!Step())
                {
                    counters.PublishIfChanged();
                    wakeup.Wait(100);
                }
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
        if (options.HugePages)
            Volatile.Write(ref hugePages, Task.Factory.StartNew(CollapseWeights, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
    }

    /// <summary>
    /// Moves the weights to huge pages after readiness, on a thread of its own: the copy takes 0.3-2.4 s (about 6 ms
    /// per MiB here), which start-up used to wait for, and the kernel's collapse runs safely under the model's readers.
    /// It runs at the lowest priority (nice 19), so a first request meanwhile loses little to it, and decodes on small
    /// pages until it is done. A dedicated thread (LongRunning), so the priority never leaks into the thread pool.
    /// </summary>
    void CollapseWeights()
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            // At nice 19 the copy fills the gaps the first requests leave instead of taking a core from them.
            HugePages.DeprioritizeCurrentThread();
            HugePageBytes = HugePages.CollapseResident(cancel: hugePagesCancel.Token);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // A C library without madvise/mincore under the name "libc" (not glibc): serve on small pages.
            options.Log?.Invoke("huge pages unavailable: " + e.Message);
            return;
        }
        var took = Stopwatch.GetElapsedTime(start);
        if (HugePageBytes > 0)
            options.Log?.Invoke($"weights: {HugePageBytes >> 20} MiB moved to huge pages in {took.TotalMilliseconds:F0} ms (after readiness)");
    }

    /// <summary>One scheduler step; false when there was nothing to do.</summary>
    internal bool Step()
    {
        admission.DrainCommands();
        admission.ApplyCancellations();
        pipeline.FlushDraining(rows);
        bool worked = false;
        if (rows.DecodeCount > 0)
        {
            // Steady state = a decode step with nothing admitted, finished or prefilled around it: measure what it allocates.
            bool steady = admission.PrefillGroup.Count == 0 && !admission.HasWaiting;
            long before = steady ? GC.GetAllocatedBytesForCurrentThread() : 0;
            int batch = rows.DecodeCount;
            DecodeStep();
            if (steady && rows.DecodeCount == batch)
            {
                steadyDecodeAllocated += GC.GetAllocatedBytesForCurrentThread() - before;
                steadyDecodeSteps++;
            }
            worked = true;
        }
        admission.StartPrefillGroup();
        if (admission.PrefillGroup.Count > 0)
        {
            PrefillStep();
            worked = true;
        }
        if (worked) Interlocked.Increment(ref counters.Steps);
        admission.PublishActive();
        counters.PublishIfRequested();
        return worked || pipeline.Draining.Count > 0;
    }

    /// <summary>One batched decode run over rows [0, DecodeCount), then each row's next token through the pipeline.</summary>
    void DecodeStep()
    {
        int b = rows.DecodeCount;
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
            for (int i = b - 1; i >= 0; i--) pipeline.Fail(rows[i]!, "model run failed: " + e.Message);
            rows.DropDecodeRows();
            return;
        }
        for (int i = 0; i < b; i++)
        {
            var seq = rows[i]!;
            seq.Length++;
            if (prefixes.Enabled && seq.Length % prefixes.BlockSize == 0) prefixes.Commit(seq);
            pipeline.Next(seq, runner.DecodeLogits(i));
        }
        for (int i = b - 1; i >= 0; i--)
            if (rows[i]!.Done) rows.RetireDecodeRow(i);
    }

    /// <summary>At most one prefill run: a chunk of one prompt (B=1, maybe continuing), or several fresh prompts at once.</summary>
    void PrefillStep()
    {
        var group = admission.PrefillGroup;
        if (group.Count == 1)
        {
            var seq = group[0];
            int chunk = Math.Min(admission.PrefillBudget(), seq.PromptLength - seq.Length);
            Span<float> logits;
            long started = Stopwatch.GetTimestamp();
            try
            {
                logits = runner.Prefill(seq.Row, seq.Length, seq.Request.PromptTokens.AsSpan(seq.Length, chunk));
            }
            catch (Exception e)
            {
                group.Clear();
                rows.DropRow(seq);
                pipeline.FailGroup(seq, "model run failed: " + e.Message);
                return;
            }
            prefixes.ObservePrefill(chunk, Stopwatch.GetTimestamp() - started);
            seq.Length += chunk;
            Interlocked.Add(ref counters.PromptTokens, chunk);
            prefixes.Commit(seq);
            if (seq.Length < seq.PromptLength) return;
            group.Clear();
            FirstToken(seq, logits);
            return;
        }

        freshPrompts.Clear();
        foreach (var seq in group) freshPrompts.Add(seq.Request.PromptTokens);
        int firstRow = group[0].Row, s;
        long freshStarted = Stopwatch.GetTimestamp();
        try
        {
            s = runner.PrefillFresh(firstRow, freshPrompts);
        }
        catch (Exception e)
        {
            foreach (var seq in group)
            {
                rows.DropRow(seq);
                pipeline.Fail(seq, "model run failed: " + e.Message);
            }
            group.Clear();
            return;
        }
        int freshTokens = 0;
        foreach (var seq in group) freshTokens += seq.PromptLength;
        prefixes.ObservePrefill(freshTokens, Stopwatch.GetTimestamp() - freshStarted);
        for (int k = 0; k < group.Count; k++)
        {
            var seq = group[k];
            seq.Length = seq.PromptLength;
            Interlocked.Add(ref counters.PromptTokens, seq.PromptLength);
            prefixes.Commit(seq);
            FirstToken(seq, runner.PrefillLogits(k * s + seq.PromptLength - 1));
        }
        group.Clear();
    }

    /// <summary>Chooses a freshly prefilled sequence's first token, then moves it into the decode batch (or frees it).</summary>
    void FirstToken(Sequence seq, Span<float> logits)
    {
        var siblings = seq.Siblings;
        seq.Siblings = null;
        if (siblings is not null) logits.CopyTo(forkLogits);   // the pipeline edits logits in place
        pipeline.Next(seq, logits);
        bool alive = !seq.Done && !seq.Request.IsCancellationRequested;
        if (siblings is not null)
        {
            // Put the parent at DecodeCount first, so forked rows go above it and the batch stays contiguous.
            rows.MoveToRow(seq, rows.DecodeCount);
            Fork(seq, siblings);
        }
        if (alive) rows.JoinDecode(seq);
        else
        {
            rows.FreeRow(seq);
            if (!seq.Done) pipeline.FinishCancelled(seq);
        }
        foreach (var sib in pendingJoins) rows.JoinDecode(sib);
        pendingJoins.Clear();
    }

    /// <summary>
    /// Gives each sibling of a just-prefilled sequence its own row holding a copy of the prompt KV and chooses its first
    /// token from the same logits with its own sampler. Rows were reserved at admission (a group waits for enough rows).
    /// </summary>
    void Fork(Sequence parent, List<Sequence> siblings)
    {
        foreach (var sib in siblings)
        {
            if (sib.Request.IsCancellationRequested)
            {
                pipeline.FinishCancelled(sib);
                continue;
            }
            int row = rows.FreeRowAbove(parent.Row);
            rows.CopyKv(parent.Row, row, parent.Length);
            sib.Length = parent.Length;
            sib.CachedTokens = parent.CachedTokens;
            rows.Claim(sib, row);
            prefixes.Share(parent, sib);
            forkLogits.CopyTo(forkWork, 0);
            pipeline.Next(sib, forkWork);
            if (sib.Done) rows.FreeRow(sib);
            else pendingJoins.Add(sib);
        }
    }

    void FailAll(string message)
    {
        for (int i = 0; i < rows.Count; i++)
            if (rows[i] is { } seq && !seq.Done) pipeline.FailGroup(seq, message);
        rows.Clear();
        admission.FailQueued(message);
        pipeline.CompleteDraining();
        admission.PublishActive();
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
    internal int RestoreForTest(int[] prompt, int row) => prefixes.RestoreForTest(prompt, row);

    long steadyDecodeAllocated, steadyDecodeSteps;

    /// <summary>Bytes the engine thread allocated over all steady-state decode steps, and how many there were.</summary>
    public (long Bytes, long Steps) SteadyDecodeAllocation => (Interlocked.Read(ref steadyDecodeAllocated), Interlocked.Read(ref steadyDecodeSteps));

    /// <summary>Snapshot for tests: which rows hold a sequence (by request id).</summary>
    internal long[] RowOwners() => rows.Owners();

    public void Dispose()
    {
        if (stopping) return;
        stopping = true;
        wakeup.Signal();
        thread.Join();
        // The collapse walks the weights' memory: stop it before the session frees them.
        hugePagesCancel.Cancel();
        hugePages.Wait();
        hugePagesCancel.Dispose();
        prefixes.PersistCachedBlocks(TimeSpan.FromSeconds(10));
        prefixes.Dispose();
        runner.Dispose();
        Prompts.Dispose();
    }
}
