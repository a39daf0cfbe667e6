using OnnxLm.Engine.Cache;
using OnnxLm.Engine.Cache.Remote;
using OnnxLm.Engine.Cache.Ssd;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Text;

namespace OnnxLm.Engine.Scheduling;

/// <summary>What an engine is built from, loaded in dependency order; disposed in reverse when the engine cannot start.</summary>
internal sealed record EngineParts(TokenVocabulary Vocabulary, PromptEncoder Prompts, ModelRunner Runner, PrefixCache? Cache, SsdKvTier? Ssd, RemoteKvTier? Remote, MemoryPlan Plan)
    : IDisposable
{
    public void Dispose()
    {
        Remote?.Dispose();
        Ssd?.Dispose();
        Cache?.Dispose();
        Runner.Dispose();
        Prompts.Dispose();
    }
}

/// <summary>
/// Start-up: checks the folder against the model contract, plans memory, creates the ORT session and slot rows, the
/// prefix cache and the SSD tier. Nothing here runs once the engine thread has started.
/// </summary>
internal static class EngineLoader
{
    /// <exception cref="ModelFormatException">The folder does not fit the model contract.</exception>
    public static EngineParts Load(EngineOptions options)
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
        RemoteKvTier? remote = null;
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
                // Blocks that leave the process (SSD, Redis) need the weights' content in the fingerprint; whole-file hashes
                // are then remembered in the cache root.
                bool shared = options.SsdCache || options.RemoteKv is not null;
                string? hashCache = shared ? Path.Combine(options.KvCacheDir ?? SsdKvTier.DefaultDirectory(), "content-hashes.tsv") : null;
                var fingerprint = ModelFingerprint.Compute(runner.Contract, options.BlockSize, bits, hashCache, shared);
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
                if (options.RemoteKv is { } endpoint)
                {
                    // Connects in the background: a replica starts and serves while Redis is down.
                    remote = new RemoteKvTier(new RemoteKvOptions
                    {
                        Endpoint = endpoint,
                        Fingerprint = fingerprint,
                        Layout = cache.Layout,
                        AlwaysFetch = options.RemoteKvAlwaysFetch,
                        Log = options.Log,
                    });
                }
            }
            return new EngineParts(vocabulary, prompts, runner, cache, ssd, remote, plan);
        }
        catch
        {
            remote?.Dispose();
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
}
