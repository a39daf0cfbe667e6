using Microsoft.Extensions.Logging;
using OnnxLm.Cli;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using OnnxLm.Tests.Memory;

namespace OnnxLm.Tests.Cli;

/// <summary>
/// <c>onnxlm serve</c> and the memory budget: an explicit context or batch size that cannot fit is refused at start with
/// exit code 2 and the arithmetic in the message; the default context is capped to fit and the arithmetic logged.
/// </summary>
public class MemoryBudgetStartTests
{
    static async Task<(int Code, string Error)> RunMain(params string[] args)
    {
        var context = TestContext.Current!;
        int errorStart = context.GetErrorOutput().Length;
        int code = await Program.Main(args);
        await Console.Error.FlushAsync();
        return (code, context.GetErrorOutput()[errorStart..]);
    }

    [Test]
    public async Task A_context_length_that_does_not_fit_the_budget_exits_2_with_the_numbers()
    {
        var (code, error) = await RunMain("serve", "--model", TestModels.Get(MemoryPlanTests.LongContextTiny), "--port", "0", "--threads", "1",
            "--no-ssd-cache", "--context-length", "131072", "--max-batch-size", "8", "--memory-budget", "256M", "--kv-cache-memory", "16M");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("--context-length 131072 with --max-batch-size 8 needs");
        await Assert.That(error).Contains("8 × 131,072 tokens × 512 B of KV");
        await Assert.That(error).Contains("the memory budget of 256.0 MiB (--memory-budget)");
        await Assert.That(error).Contains("the prefix cache (16.0 MiB)");
        await Assert.That(error).Contains("tokens per sequence fit at --max-batch-size 8");
    }

    [Test]
    public async Task A_batch_size_whose_rows_do_not_fit_exits_2_naming_it()
    {
        var (code, error) = await RunMain("serve", "--model", TestModels.TinyFp32, "--port", "0", "--threads", "1", "--no-ssd-cache",
            "--max-batch-size", "256", "--memory-budget", "8M", "--no-prefix-cache");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("the shortest useful context (256 tokens) with --max-batch-size 256 needs");
        await Assert.That(error).Contains("the memory budget of 8.0 MiB (--memory-budget)");
    }

    [Test]
    public async Task The_default_context_is_capped_to_the_budget_and_the_arithmetic_is_logged()
    {
        var lines = new LogLines();
        var options = new ServeOptions
        {
            Model = TestModels.Get(MemoryPlanTests.LongContextTiny),
            Host = "127.0.0.1",
            Port = 0,
            Threads = 1,
            SsdCache = false,
            MaxBatchSize = 8,
            MemoryBudget = 256L << 20,
            KvCacheMemory = 16L << 20,
        };
        await using var server = await OnnxLmServer.StartAsync(options, lines);
        int context = server.Engine.ContextLength;
        await Assert.That(context).IsLessThan(131072);
        await Assert.That(context % 256).IsEqualTo(0);
        await Assert.That(server.Engine.Memory.PlannedBytes).IsLessThanOrEqualTo(256L << 20);
        string line = lines.Snapshot().Single(l => l.StartsWith("memory: budget", StringComparison.Ordinal));
        await Assert.That(line).Contains("memory: budget 256.0 MiB (--memory-budget)");
        await Assert.That(line).Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"context {context:N0} tokens (the model's 131,072 capped by the budget"));
        await Assert.That(line).Contains("8 × 512 B KV");
        await Assert.That(lines.Snapshot()).Contains(l => l.Contains($"context {context},", StringComparison.Ordinal));
    }

    /// <summary>Collects formatted log messages.</summary>
    sealed class LogLines : ILoggerProvider, ILogger
    {
        readonly List<string> lines = [];

        public string[] Snapshot()
        {
            lock (lines) return [.. lines];
        }

        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (lines) lines.Add(formatter(state, exception));
        }

        public void Dispose()
        {
        }
    }
}
