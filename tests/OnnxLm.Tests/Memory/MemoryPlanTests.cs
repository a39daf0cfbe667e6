using OnnxLm.Builder;
using OnnxLm.Engine.Memory;
using OnnxLm.Engine.Model;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Memory;

/// <summary>
/// The start-up memory arithmetic (<see cref="MemoryPlan"/>) on a tiny model whose context_length is 131,072:
/// the default context is the model's capped by what the slots' KV fit, an explicit context that does not fit is refused
/// with the numbers, and the prefix pool is part of the same sum.
/// </summary>
public class MemoryPlanTests
{
    /// <summary>Tiny shape (2 layers, 2 kv heads of 16, fp32: 512 B of KV per token), rotary caches for 131,072 positions.</summary>
    public static ModelBuilderOptions LongContextTiny => ModelBuilderOptions.Tiny with { ContextLength = 131072 };

    static ModelContract Contract() => ModelContract.Inspect(TestModels.Get(LongContextTiny));

    static MemoryPlanRequest Request(int slots = 8, int? context = null, long? budget = null, bool prefix = false, long? pool = null) => new()
    {
        Slots = slots,
        PrefillStepSize = 512,
        ContextLength = context,
        BudgetBytes = budget,
        PrefixCache = prefix,
        PrefixCacheBytes = pool,
        DefaultPrefixCacheBytes = 8L << 30,
        PrefixBlockBytes = 16 * 512,
    };

    [Test]
    public async Task Kv_bytes_per_token_are_layers_times_two_times_kv_heads_times_head_size_times_element_size()
    {
        var plan = MemoryPlan.Compute(Contract(), Request(budget: 64L << 30), machine: null);
        await Assert.That(plan.KvBytesPerToken).IsEqualTo(2L * 2 * 2 * 16 * 4);
        await Assert.That(plan.ContextLength).IsEqualTo(131072);
        await Assert.That(plan.KvBytes).IsEqualTo(8L * 131072 * 512);
        await Assert.That(plan.WeightsBytes).IsGreaterThan(0);
    }

    [Test]
    public async Task The_default_context_is_the_models_capped_by_what_the_slots_fit_and_the_arithmetic_is_described()
    {
        var contract = Contract();
        var unbounded = MemoryPlan.Compute(contract, Request(budget: 64L << 30), null);
        long fixedBytes = unbounded.WeightsBytes + unbounded.BuffersBytes;
        long budget = fixedBytes + unbounded.PerPositionBytes * 10_000;   // room for 10,000 positions
        var plan = MemoryPlan.Compute(contract, Request(budget: budget), null);
        await Assert.That(plan.FitContextLength).IsEqualTo(10_000);
        await Assert.That(plan.ContextLength).IsEqualTo(9_984);   // rounded down to a multiple of 256
        await Assert.That(plan.PlannedBytes).IsLessThanOrEqualTo(budget);
        string line = plan.Describe();
        await Assert.That(line).Contains("context 9,984 tokens (the model's 131,072 capped by the budget, 10,000 fit)");
        await Assert.That(line).Contains("8 × 512 B KV");
        await Assert.That(line).Contains("--memory-budget");
    }

    [Test]
    public async Task The_available_memory_less_the_reserve_is_the_default_budget()
    {
        var machine = new MemorySnapshot(16L << 30, 10L << 30, "MemAvailable");
        var plan = MemoryPlan.Compute(Contract(), Request(), machine);
        long reserve = MemoryPlan.Reserve(16L << 30, macOS: false);
        await Assert.That(reserve).IsEqualTo((16L << 30) / 20);
        await Assert.That(plan.BudgetBytes).IsEqualTo((10L << 30) - reserve);
        await Assert.That(plan.ReserveBytes).IsEqualTo(reserve);
        await Assert.That(plan.BudgetSource).Contains("MemAvailable 10.0 GiB − 819.2 MiB reserve");
        // macOS starts from physical memory and keeps more for the OS.
        await Assert.That(MemoryPlan.Reserve(16L << 30, macOS: true)).IsEqualTo((16L << 30) / 5);
        await Assert.That(MemoryPlan.Reserve(8L << 30, macOS: true)).IsEqualTo(2L << 30);
    }

    [Test]
    public async Task An_explicit_context_that_does_not_fit_is_refused_with_the_numbers()
    {
        var contract = Contract();
        var probe = MemoryPlan.Compute(contract, Request(budget: 64L << 30), null);
        long budget = probe.WeightsBytes + probe.BuffersBytes + probe.PerPositionBytes * 4096;
        var e = Assert.Throws<MemoryBudgetException>(() => MemoryPlan.Compute(contract, Request(context: 65536, budget: budget), null));
        await Assert.That(e.Message).Contains("--context-length 65536 with --max-batch-size 8");
        await Assert.That(e.Message).Contains("8 × 65,536 tokens × 512 B of KV");
        await Assert.That(e.Message).Contains("at most 4,096 tokens per sequence fit at --max-batch-size 8");
        await Assert.That(e.Message).Contains(MemoryPlan.Format(budget));
        // The same context fits with fewer slots.
        var fits = MemoryPlan.Compute(contract, Request(slots: 1, context: 4096, budget: budget), null);
        await Assert.That(fits.ContextLength).IsEqualTo(4096);
    }

    [Test]
    public async Task A_budget_the_weights_fill_is_refused_even_with_the_default_context()
    {
        var e = Assert.Throws<MemoryBudgetException>(() => MemoryPlan.Compute(Contract(), Request(budget: 1 << 20), null));
        await Assert.That(e.Message).Contains("the shortest useful context (256 tokens) with --max-batch-size 8");
        await Assert.That(e.Message).Contains("memory budget of 1.0 MiB (--memory-budget)");
    }

    [Test]
    public async Task The_prefix_pool_is_part_of_the_sum_and_the_default_pool_yields_to_the_context()
    {
        var contract = Contract();
        var bare = MemoryPlan.Compute(contract, Request(budget: 64L << 30), null);
        long budget = bare.WeightsBytes + bare.BuffersBytes + bare.PerPositionBytes * 20_000;
        // An explicit pool is taken as given, and the context shrinks around it.
        long pool = bare.PerPositionBytes * 10_000;
        var withPool = MemoryPlan.Compute(contract, Request(budget: budget, prefix: true, pool: pool), null);
        await Assert.That(withPool.PrefixCacheBytes).IsEqualTo(pool);
        await Assert.That(withPool.FitContextLength).IsEqualTo(10_000);
        // The default pool (8 GiB here) takes at most a quarter of what the weights leave.
        var defaultPool = MemoryPlan.Compute(contract, Request(budget: budget, prefix: true), null);
        await Assert.That(defaultPool.PrefixCacheBytes).IsEqualTo(bare.PerPositionBytes * 20_000 / 4);
        await Assert.That(defaultPool.FitContextLength).IsEqualTo(15_000);
    }

    [Test]
    public async Task Without_a_machine_figure_or_a_budget_nothing_is_capped()
    {
        var plan = MemoryPlan.Compute(Contract(), Request(), machine: null);
        await Assert.That(plan.Bounded).IsFalse();
        await Assert.That(plan.ContextLength).IsEqualTo(131072);
    }
}
