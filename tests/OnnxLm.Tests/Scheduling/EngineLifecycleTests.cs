using OnnxLm.Engine.Sampling;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Scheduling;

/// <summary>Rows come back: cancellation, random submit/cancel churn, a failing model run, an over-long prompt, a full queue.</summary>
public class EngineLifecycleTests
{
    [Test]
    public async Task Cancelling_a_decoding_request_frees_its_row()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2);
        // Cancelled from the engine thread at its tenth decode run: mid-decode however fast the model runs (a cancel sent
        // by the test thread after some tokens raced the request's end on a loaded machine).
        var doomed = new GenerationRequest(EngineDriver.RandomPrompt(2, 10), SamplingParams.Greedy, 400, ignoreEos: true);
        int decodeRuns = 0;
        engine.BeforeRun = prefill =>
        {
            if (!prefill && Interlocked.Increment(ref decodeRuns) == 10) engine.Cancel(doomed);
        };
        var keep = EngineDriver.Submit(engine, new GenerationRequest(EngineDriver.RandomPrompt(1, 10), SamplingParams.Greedy, 200, ignoreEos: true));
        var cancel = EngineDriver.Submit(engine, doomed);
        var r = await cancel.Completion;
        await Assert.That(r.Finish).IsEqualTo(FinishReason.Cancelled);
        await Assert.That(r.Tokens.Length).IsLessThan(400);
        // The freed row takes a new request while the other keeps decoding.
        var next = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(EngineDriver.RandomPrompt(3, 10), 5));
        await Assert.That(next.Error).IsNull();
        await keep.Completion;
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
    }

    [Test]
    public async Task Random_submit_cancel_cycles_leave_every_row_free()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4, prefillStepSize: 16, maxQueue: 256);
        var rng = new Random(12345);
        var collectors = new List<Collector>();
        for (int i = 0; i < 200; i++)
        {
            var request = new GenerationRequest(EngineDriver.RandomPrompt(1000 + i, 1 + rng.Next(60)),
                new SamplingParams { Temperature = 1f, Seed = (ulong)i }, 1 + rng.Next(40));
            var c = EngineDriver.Submit(engine, request);
            collectors.Add(c);
            int action = rng.Next(4);
            if (action == 0) engine.Cancel(request);                       // cancel while queued
            else if (action == 1) { await Task.Delay(rng.Next(3)); engine.Cancel(request); }   // cancel at a random moment
            if (rng.Next(8) == 0) await Task.Delay(rng.Next(5));
        }
        foreach (var c in collectors)
        {
            var r = await c.Completion;
            await Assert.That(r.Error).IsNull();
            await Assert.That(r.Finish).IsNotEqualTo(FinishReason.None);
        }
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
        await Assert.That(engine.WaitingRequests).IsEqualTo(0);
        // Still serving correctly afterwards.
        var prompt = EngineDriver.RandomPrompt(7, 20);
        var after = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 20));
        await Assert.That(string.Join(",", after.TokensWithoutEos(engine.Contract.Config.EosTokenIds)))
            .IsEqualTo(string.Join(",", Oracle.GreedyTokens(TestModels.TinyFp32, prompt, 20)));
    }

    [Test]
    public async Task A_failing_model_run_ends_only_its_requests_and_the_engine_keeps_serving()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4);
        // The fifth decode run fails: counted on the engine thread, so the failure lands inside the request's 300 tokens
        // however fast the model decodes (a flag set from the test thread after some tokens raced the request's end).
        int decodeRuns = 0;
        engine.BeforeRun = prefill =>
        {
            if (!prefill && Interlocked.Increment(ref decodeRuns) == 5) throw new InvalidOperationException("injected kernel failure");
        };
        var a = EngineDriver.Submit(engine, new GenerationRequest(EngineDriver.RandomPrompt(4, 10), SamplingParams.Greedy, 300, ignoreEos: true));
        var ra = await a.Completion;
        await Assert.That(ra.Tokens.Length).IsLessThan(300);
        await Assert.That(ra.Error).IsNotNull();
        await Assert.That(ra.Error!).Contains("injected kernel failure");
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();

        var prompt = EngineDriver.RandomPrompt(5, 12);
        var after = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(prompt, 15));
        await Assert.That(after.Error).IsNull();
        await Assert.That(string.Join(",", after.TokensWithoutEos(engine.Contract.Config.EosTokenIds)))
            .IsEqualTo(string.Join(",", Oracle.GreedyTokens(TestModels.TinyFp32, prompt, 15)));
    }

    [Test]
    public async Task A_failing_prefill_ends_only_that_request()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4);
        var decoding = EngineDriver.Submit(engine, new GenerationRequest(EngineDriver.RandomPrompt(6, 10), SamplingParams.Greedy, 100, ignoreEos: true));
        await decoding.WaitForTokensAsync(2);
        engine.BeforeRun = prefill =>
        {
            if (prefill) throw new InvalidOperationException("injected prefill failure");
        };
        var failing = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(EngineDriver.RandomPrompt(7, 10), 10));
        engine.BeforeRun = null;
        await Assert.That(failing.Error).IsNotNull();
        var ok = await decoding.Completion;
        await Assert.That(ok.Error).IsNull();
        await Assert.That(ok.Tokens.Length).IsEqualTo(100);
    }

    [Test]
    public async Task Prompt_that_does_not_fit_the_context_is_refused()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, contextLength: 64);
        await Assert.That(engine.CheckFits(64, 1)).IsNotNull();
        await Assert.That(engine.CheckFits(60, 10)).IsNotNull();
        await Assert.That(engine.CheckFits(60, 4)).IsNull();
        // Submitted anyway (bypassing the check): an error event, never a truncation.
        var r = await EngineDriver.RunAsync(engine, EngineDriver.Greedy(EngineDriver.RandomPrompt(8, 64), 4));
        await Assert.That(r.Error).IsNotNull();
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
    }

    [Test]
    public async Task Generation_stops_at_the_context_limit_with_length()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, contextLength: 32);
        var r = await EngineDriver.RunAsync(engine, new GenerationRequest(EngineDriver.RandomPrompt(9, 20), SamplingParams.Greedy, 1000, ignoreEos: true));
        await Assert.That(r.Finish).IsEqualTo(FinishReason.Length);
        await Assert.That(r.PromptTokens + r.CompletionTokens).IsEqualTo(32);
    }

    [Test]
    public async Task Draining_refuses_new_work_finishes_running_work_then_cancel_all_ends_the_rest()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 2);
        var shortRun = EngineDriver.Submit(engine, new GenerationRequest(EngineDriver.RandomPrompt(800, 8), SamplingParams.Greedy, 30, ignoreEos: true));
        var longRun = EngineDriver.Submit(engine, new GenerationRequest(EngineDriver.RandomPrompt(801, 8), SamplingParams.Greedy, 100_000 / 512, ignoreEos: true));
        await shortRun.WaitForTokensAsync(1);
        engine.StopAccepting();
        await Assert.That(engine.IsStopping).IsTrue();
        await Assert.That(engine.TrySubmit(EngineDriver.Greedy(EngineDriver.RandomPrompt(802, 4), 2))).IsFalse();
        var done = await shortRun.Completion;
        await Assert.That(done.Finish).IsEqualTo(FinishReason.Length);
        await Assert.That(done.Tokens.Length).IsEqualTo(30);
        engine.CancelAll();
        await Assert.That((await longRun.Completion).Finish).IsNotEqualTo(FinishReason.None);
        await Assert.That(await engine.WaitForIdleAsync(TimeSpan.FromSeconds(30))).IsTrue();
        await Assert.That(engine.IsReady).IsTrue();
    }

    [Test]
    public async Task Full_queue_refuses_submissions()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 1, maxQueue: 2);
        var requests = Enumerable.Range(0, 6).Select(i => new GenerationRequest(EngineDriver.RandomPrompt(i, 5), SamplingParams.Greedy, 200, ignoreEos: true)).ToList();
        var accepted = requests.Where(engine.TrySubmit).ToList();
        await Assert.That(accepted.Count).IsLessThan(6);
        await Assert.That(accepted.Count).IsGreaterThanOrEqualTo(2);
        foreach (var r in accepted) engine.Cancel(r);
        foreach (var r in accepted) await new Collector(r).Completion;
        await Assert.That(await EngineDriver.WaitIdleAsync(engine)).IsTrue();
    }
}

/// <summary>The steady decode step (batch unchanged, nothing admitted) allocates nothing on the engine thread, with or
/// without a grammar.</summary>
public class EngineAllocationTests
{
    [Test]
    [Arguments(true)]
    [Arguments(false)]
    public async Task Steady_state_decode_steps_allocate_zero_bytes(bool prefixCache)
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4, prefixCache: prefixCache);
        // Stop strings, sampling with penalties and logprobs exercise every per-token path.
        var p = new SamplingParams { Temperature = 0.8f, TopP = 0.9f, FrequencyPenalty = 0.5f, Seed = 5, Logprobs = true, TopLogprobs = 3 };
        // Warm-up: first calls into the runtime (type initialisers, lazily created comparers) allocate once per process.
        await EngineDriver.RunAsync(engine, new GenerationRequest(EngineDriver.RandomPrompt(699, 10), p, 80, ["zzzq"], ignoreEos: true));
        var (warmBytes, warmSteps) = engine.SteadyDecodeAllocation;
        var runs = Enumerable.Range(0, 4).Select(i => EngineDriver.Submit(engine,
            new GenerationRequest(EngineDriver.RandomPrompt(700 + i, 10 + i), p, 300, ["zzzq", "\u00e9\u00e9\u00e9"], ignoreEos: true))).ToArray();
        foreach (var r in runs) await r.Completion;
        var (bytes, steps) = engine.SteadyDecodeAllocation;
        await Assert.That(steps - warmSteps).IsGreaterThan(200);
        await Assert.That(bytes - warmBytes).IsEqualTo(0);
    }

    /// <summary>The same with <c>response_format</c>: the grammar mask (and its sampled timing for /metrics) and the matcher's
    /// advance add nothing. The schema is a string of at least 5,000 characters, which 300 tokens cannot complete, so
    /// every sequence stays constrained to its last token.</summary>
    [Test]
    public async Task Steady_state_constrained_decode_steps_allocate_zero_bytes()
    {
        using var engine = EngineDriver.Start(TestModels.TinyFp32, maxBatchSize: 4);
        var grammar = OnnxLm.Engine.Constraints.JsonSchemaCompiler.Compile("""{"type":"string","minLength":5000}"""u8);
        var p = new SamplingParams { Temperature = 1f, TopP = 0.9f, Seed = 9 };
        var warm = await EngineDriver.RunAsync(engine, new GenerationRequest(EngineDriver.RandomPrompt(799, 10), p, 80, ignoreEos: true) { Grammar = grammar });
        await Assert.That(warm.Error).IsNull();
        var (warmBytes, warmSteps) = engine.SteadyDecodeAllocation;
        long timedBefore = engine.GrammarMaskTimes.Count;
        var runs = Enumerable.Range(0, 4).Select(i => EngineDriver.Submit(engine,
            new GenerationRequest(EngineDriver.RandomPrompt(800 + i, 10 + i), p, 300) { Grammar = grammar })).ToArray();
        foreach (var r in runs)
        {
            var result = await r.Completion;
            await Assert.That(result.Error).IsNull();
            await Assert.That(result.Finish).IsEqualTo(FinishReason.Length);
        }
        var (bytes, steps) = engine.SteadyDecodeAllocation;
        await Assert.That(steps - warmSteps).IsGreaterThan(200);
        await Assert.That(engine.GrammarMaskTimes.Count - timedBefore).IsGreaterThan(100);
        await Assert.That(bytes - warmBytes).IsEqualTo(0);
    }
}
