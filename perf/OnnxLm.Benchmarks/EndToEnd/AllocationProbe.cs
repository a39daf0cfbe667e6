using OnnxLm.Engine.Scheduling;

namespace OnnxLm.Benchmarks.EndToEnd;

/// <summary>Managed bytes allocated per decode step in steady state, split by who allocated them.</summary>
public readonly record struct AllocationResult(int Rows, long Steps, double TotalPerStep, double EngineThreadPerStep,
    double ReaderPerStep, double OtherPerStep, int Gen0Collections);

/// <summary>
/// Runs <c>rows</c> greedy requests that decode together, each read by its own async reader loop (WaitToReadAsync/TryRead,
/// as the HTTP handler does), and measures over a window of steady decode steps:
/// * the process total, <c>GC.GetTotalAllocatedBytes(precise: true)</c>;
/// * the engine thread, from <c>GC.GetAllocatedBytesForCurrentThread</c> sampled in the runner's BeforeRun hook
///   (called on the engine thread right before each model run), so consecutive samples bracket exactly one step;
/// * the readers' own code between resumption and the next await, from the same per-thread counter;
/// * the rest (thread-pool dispatch of continuations, runtime background work) as the remainder.
/// </summary>
public static class AllocationProbe
{
    sealed class Window
    {
        public volatile bool Recording;
        public readonly long[] EngineSamples = new long[1 << 16];
        public int EngineCount;
        public readonly long[] ReaderBytes;
        public Window(int rows) => ReaderBytes = new long[rows];
    }

    public static AllocationResult Measure(InferenceEngine engine, int[][] prompts, int warmSteps, int measureSteps)
    {
        int rows = prompts.Length;
        var window = new Window(rows);
        engine.BeforeRun = prefill =>
        {
            if (!prefill && window.Recording && window.EngineCount < window.EngineSamples.Length)
                window.EngineSamples[window.EngineCount++] = GC.GetAllocatedBytesForCurrentThread();
        };
        try
        {
            int maxTokens = warmSteps + measureSteps + 64;
            var readers = new Task[rows];
            long generated0 = engine.GeneratedTokensTotal;
            for (int r = 0; r < rows; r++)
            {
                var request = EngineClient.Request(prompts[r], maxTokens);
                if (!engine.TrySubmit(request)) throw new InvalidOperationException("queue full");
                int slot = r;
                readers[r] = Task.Run(() => ReadAsync(request, window, slot));
            }
            while (engine.GeneratedTokensTotal < generated0 + (long)rows * warmSteps || engine.ActiveSequences < rows) Thread.Sleep(1);

            int gen0 = GC.CollectionCount(0);
            long steps0 = engine.Steps;
            long total0 = GC.GetTotalAllocatedBytes(precise: true);
            window.Recording = true;
            while (engine.Steps < steps0 + measureSteps) Thread.Sleep(1);
            window.Recording = false;
            long total1 = GC.GetTotalAllocatedBytes(precise: true);
            long steps = engine.Steps - steps0;
            gen0 = GC.CollectionCount(0) - gen0;
            if (engine.ActiveSequences != rows) throw new InvalidOperationException("a row left during the measurement window");
            Task.WaitAll(readers);

            int n = Volatile.Read(ref window.EngineCount);
            double enginePerStep = n >= 2 ? (double)(window.EngineSamples[n - 1] - window.EngineSamples[0]) / (n - 1) : double.NaN;
            double totalPerStep = (double)(total1 - total0) / steps;
            double readerPerStep = (double)window.ReaderBytes.Sum() / steps;
            return new AllocationResult(rows, steps, totalPerStep, enginePerStep, readerPerStep,
                totalPerStep - enginePerStep - readerPerStep, gen0);
        }
        finally
        {
            engine.BeforeRun = null;
        }
    }

    static async Task ReadAsync(GenerationRequest request, Window window, int slot)
    {
        var events = request.Events;
        long start = GC.GetAllocatedBytesForCurrentThread();
        while (true)
        {
            while (events.TryRead(out _)) { }
            var wait = events.WaitToReadAsync(CancellationToken.None);
            if (window.Recording) window.ReaderBytes[slot] += GC.GetAllocatedBytesForCurrentThread() - start;
            if (!await wait.ConfigureAwait(false)) break;
            start = GC.GetAllocatedBytesForCurrentThread();
        }
    }
}
