using System.Globalization;
using OnnxLm.Engine.Model;

namespace OnnxLm.Engine.Memory;

/// <summary>
/// The start-up memory arithmetic: everything the server can come to hold at full load must fit one budget.
/// <code>
/// budget  = --memory-budget, or (available now − reserve)   available: MemAvailable / cgroup (Linux), physical memory (macOS)
/// fixed   = weights (model files) + prefix-cache pool + run buffers (logits, prefill activations)
/// per position of context = slots × KV per token (layers × 2 × kv heads × head size × element size)
///                         + scratch (masks, and ORT's attention probabilities: heads × max(prefill step, slots) × 4 B)
/// context = min(model context, (budget − fixed) / per position), rounded down to a multiple of 256
/// </code>
/// An explicit <c>--context-length</c> that does not fit, or a budget where not even a short context fits, is refused
/// with these numbers. The plan is a worst case: KV rows and the pool are reserved address space whose pages the OS
/// commits as tokens arrive (ModelRunner keeps them off huge pages), so a 131,072-token context costs memory in
/// proportion to the tokens in use, and the plan only guarantees that the full load fits.
/// </summary>
public sealed record MemoryPlan
{
    /// <summary>No default context is cut below this (or the model's own, when shorter): a shorter one is a refusal.</summary>
    public const int MinContextLength = 256;
    /// <summary>A capped context is rounded down to a multiple of this.</summary>
    public const int ContextGranularity = 256;

    /// <summary>The budget; <see cref="long.MaxValue"/> when neither an explicit one nor a machine figure exists.</summary>
    public long BudgetBytes { get; private init; }
    /// <summary>How <see cref="BudgetBytes"/> was arrived at, for the log.</summary>
    public string BudgetSource { get; private init; } = "";
    /// <summary>What the machine keeps for the OS and other programs; also the 503 threshold of <see cref="MemoryPressure"/>.</summary>
    public long ReserveBytes { get; private init; }
    public long WeightsBytes { get; private init; }
    public long PrefixCacheBytes { get; private init; }
    public long BuffersBytes { get; private init; }
    /// <summary>KV bytes of one token of one sequence (all layers, K and V).</summary>
    public long KvBytesPerToken { get; private init; }
    /// <summary>Bytes per position of context that do not depend on the slot count being filled: masks and attention scratch.</summary>
    public long ScratchBytesPerPosition { get; private init; }
    public int Slots { get; private init; }
    public int ContextLength { get; private init; }
    public int ModelContextLength { get; private init; }
    /// <summary>The longest context that fits (before rounding and the model's cap).</summary>
    public long FitContextLength { get; private init; }

    public long PerPositionBytes => Slots * KvBytesPerToken + ScratchBytesPerPosition;
    /// <summary>KV of every slot at the full context: reserved, committed as tokens arrive.</summary>
    public long KvBytes => Slots * KvBytesPerToken * (long)ContextLength;
    /// <summary>Everything at full load.</summary>
    public long PlannedBytes => WeightsBytes + PrefixCacheBytes + BuffersBytes + PerPositionBytes * ContextLength;
    public bool Bounded => BudgetBytes != long.MaxValue;

    /// <summary>The memory left for the OS and other programs: Linux max(256 MiB, 5 % of total) off the available
    /// memory; macOS max(2 GiB, 20 % of physical memory), since there the arithmetic starts from all of it.</summary>
    public static long Reserve(long totalBytes, bool macOS) =>
        macOS ? Math.Max(2L << 30, totalBytes / 5) : Math.Max(256L << 20, totalBytes / 20);

    /// <summary>The weights as the model files hold them (<c>model.onnx</c> and its external data files).</summary>
    public static long WeightsSize(ModelContract contract)
    {
        string file = Path.GetFileName(contract.ModelPath);
        long bytes = 0;
        foreach (var f in new DirectoryInfo(contract.Directory).EnumerateFiles())
            if (f.Name.StartsWith(file, StringComparison.Ordinal)) bytes += f.Length;
        return bytes;
    }

    /// <exception cref="MemoryBudgetException">The explicit context, or the smallest useful one, does not fit.</exception>
    public static MemoryPlan Compute(ModelContract contract, MemoryPlanRequest request, MemorySnapshot? machine, bool macOS = false)
    {
        ArgumentNullException.ThrowIfNull(contract);
        ArgumentNullException.ThrowIfNull(request);
        var c = contract.Config;
        int slots = request.Slots;
        int prefill = Math.Max(request.PrefillStepSize, 1);
        long kvPerToken = (long)c.NumLayers * 2 * c.NumKvHeads * c.HeadSize * contract.KvElementSize;
        // Decode mask int64 + its int32 cast inside the graph per slot, the prefill mask, and GroupQueryAttention's
        // probabilities [B, heads, S, present length] in float (B×S ≤ the prefill step; ORT's arena keeps the largest).
        long scratch = 12L * slots + 8 + 4L * c.NumHeads * Math.Max(prefill, slots);
        int logitBytes = contract.LogitsType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16 ? 2 : 4;
        long buffers = (long)c.VocabSize * (logitBytes * (long)slots + 4L * slots + logitBytes * (long)prefill)
            + 16L * c.HiddenSize * 4 * prefill;   // prefill activations, an estimate (~16 hidden-sized floats per token)
        long weights = WeightsSize(contract);
        long reserve = machine is { } m ? Reserve(m.TotalBytes, macOS) : 0;

        long budget;
        string source;
        if (request.BudgetBytes is { } explicitBudget)
        {
            budget = explicitBudget;
            source = "--memory-budget";
        }
        else if (machine is { } snap)
        {
            budget = Math.Max(snap.AvailableBytes - reserve, 0);
            source = $"{snap.Source} {Format(snap.AvailableBytes)} − {Format(reserve)} reserve";
        }
        else
        {
            budget = long.MaxValue;
            source = "no memory figure on this machine: not capped";
        }

        long pool = 0;
        if (request.PrefixCache)
        {
            pool = request.PrefixCacheBytes ?? request.DefaultPrefixCacheBytes;
            // The default pool takes at most a quarter of what the weights leave, so it never crowds out the context.
            if (request.PrefixCacheBytes is null && budget != long.MaxValue)
                pool = Math.Min(pool, Math.Max(request.PrefixBlockBytes * 16, (budget - weights - buffers) / 4));
        }

        int modelMax = contract.MaxPositions;
        long perPosition = slots * kvPerToken + scratch;
        long left = budget == long.MaxValue ? long.MaxValue : budget - weights - buffers - pool;
        long fit = left == long.MaxValue ? modelMax : Math.Max(left, 0) / perPosition;
        var plan = new MemoryPlan
        {
            BudgetBytes = budget,
            BudgetSource = source,
            ReserveBytes = reserve,
            WeightsBytes = weights,
            PrefixCacheBytes = pool,
            BuffersBytes = buffers,
            KvBytesPerToken = kvPerToken,
            ScratchBytesPerPosition = scratch,
            Slots = slots,
            ModelContextLength = modelMax,
            FitContextLength = fit,
        };
        int context;
        if (request.ContextLength is { } wanted)
        {
            if (wanted > fit) throw new MemoryBudgetException(plan.Refusal($"--context-length {wanted} with --max-batch-size {slots}", wanted, left));
            context = wanted;
        }
        else
        {
            int least = Math.Min(modelMax, MinContextLength);
            if (fit < least) throw new MemoryBudgetException(plan.Refusal($"the shortest useful context ({least} tokens) with --max-batch-size {slots}", least, left));
            context = fit >= modelMax ? modelMax : (int)(fit >= ContextGranularity ? fit / ContextGranularity * ContextGranularity : fit);
        }
        return plan with { ContextLength = context };
    }

    string Refusal(string what, int context, long left)
    {
        long need = PerPositionBytes * context;
        long slotsFit = left <= 0 ? 0 : Math.Max((left / context - ScratchBytesPerPosition) / KvBytesPerToken, 0);
        return I($"memory: {what} needs {Format(need)} ({Slots} × {context:N0} tokens × {Format(KvBytesPerToken)} of KV, plus ") +
            I($"{Format(ScratchBytesPerPosition * context)} of attention scratch and masks), but the memory budget of {Format(BudgetBytes)} ") +
            I($"({BudgetSource}) leaves {Format(Math.Max(left, 0))} after the weights ({Format(WeightsBytes)}), the prefix cache ") +
            I($"({Format(PrefixCacheBytes)}) and run buffers ({Format(BuffersBytes)}): at most {Math.Min(FitContextLength, ModelContextLength):N0} tokens per sequence fit at ") +
            I($"--max-batch-size {Slots}") +
            (slotsFit > 0 ? I($", or --max-batch-size {slotsFit} at {context:N0} tokens") : I($", and not one sequence of {context:N0} tokens")) +
            ". Lower --context-length or --max-batch-size, " +
            "shrink --kv-cache-memory, or raise --memory-budget.";
    }

    /// <summary>One log line with the whole arithmetic.</summary>
    public string Describe()
    {
        string capped = ContextLength < ModelContextLength
            ? I($"the model's {ModelContextLength:N0} capped by the budget, {FitContextLength:N0} fit")
            : FitContextLength > ModelContextLength && Bounded ? I($"the model's; {FitContextLength:N0} would fit") : "the model's";
        return I($"memory: budget {(Bounded ? Format(BudgetBytes) : "unbounded")} ({BudgetSource}); weights {Format(WeightsBytes)} (model files), ") +
            I($"prefix cache {Format(PrefixCacheBytes)}, run buffers {Format(BuffersBytes)}; per position of context {Slots} × {Format(KvBytesPerToken)} KV ") +
            I($"+ {Format(ScratchBytesPerPosition)} scratch = {Format(PerPositionBytes)}; context {ContextLength:N0} tokens ({capped}) → ") +
            I($"{Format(KvBytes)} of KV at full load, {Format(PlannedBytes)} in all; pages are committed as tokens arrive");
    }

    static string I(FormattableString text) => FormattableString.Invariant(text);

    /// <summary>Binary units with one decimal: "24.0 KiB", "1.5 GiB".</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B") : string.Create(CultureInfo.InvariantCulture, $"{v:F1} {units[u]}");
    }
}
