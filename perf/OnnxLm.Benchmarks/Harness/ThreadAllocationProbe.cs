using System.Linq.Expressions;
using System.Reflection;
using BenchmarkDotNet.Running;

namespace OnnxLm.Benchmarks.Harness;

/// <summary>
/// Bytes per operation that a benchmark allocates on its own thread once warm: a fresh instance with the case's
/// parameters, its [GlobalSetup], <see cref="WarmupCalls"/> calls, then <see cref="MeasuredCalls"/> calls between two
/// reads of <see cref="GC.GetAllocatedBytesForCurrentThread"/>. BenchmarkDotNet's own figure counts every thread
/// (<c>GC.GetTotalAllocatedBytes</c>), so a one-iteration cold in-process run also counts what tiered compilation, the
/// thread pool or the host allocated meanwhile (seen: 20–5,000 B on a random benchmark per run). This probe counts
/// only the benchmark's calls, so the budget check is deterministic. The call goes through a compiled expression, which
/// allocates nothing per call (a reflection Invoke would box arguments and results).
/// Benchmarks whose work runs on other threads carry <see cref="AllocatesOnOtherThreadsAttribute"/> and keep
/// BenchmarkDotNet's all-threads figure.
/// </summary>
public static class ThreadAllocationProbe
{
    /// <summary>Enough calls for every method on the path to reach its steady (tier-1 or OSR) code and lazy state.</summary>
    public const int WarmupCalls = 64;
    public const int MeasuredCalls = 16;

    public static bool Applies(BenchmarkCase benchmark) =>
        benchmark.Descriptor.Type.GetCustomAttribute<AllocatesOnOtherThreadsAttribute>() is null;

    /// <summary>Rounded up: any allocation on the benchmark's own thread shows as at least 1 B/op.</summary>
    public static long BytesPerOperation(BenchmarkCase benchmark)
    {
        var descriptor = benchmark.Descriptor;
        object instance = Activator.CreateInstance(descriptor.Type)!;
        foreach (var parameter in benchmark.Parameters.Items)
        {
            if (descriptor.Type.GetProperty(parameter.Name) is { } property) property.SetValue(instance, parameter.Value);
            else if (descriptor.Type.GetField(parameter.Name) is { } field) field.SetValue(instance, parameter.Value);
            else throw new InvalidOperationException($"{descriptor.Type.Name}: no property or field for parameter {parameter.Name}");
        }
        descriptor.GlobalSetupMethod?.Invoke(instance, null);
        try
        {
            // A void-typed lambda discards the workload's result without boxing it.
            var call = Expression.Lambda<Action>(Expression.Call(Expression.Constant(instance), descriptor.WorkloadMethod)).Compile();
            for (int i = 0; i < WarmupCalls; i++) call();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < MeasuredCalls; i++) call();
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            long operations = (long)MeasuredCalls * descriptor.OperationsPerInvoke;
            return (bytes + operations - 1) / operations;
        }
        finally
        {
            descriptor.GlobalCleanupMethod?.Invoke(instance, null);
        }
    }
}

/// <summary>
/// The benchmark's work allocates on threads other than the calling one (producers, async continuations): the budget
/// uses BenchmarkDotNet's all-threads measurement for it, not <see cref="ThreadAllocationProbe"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class AllocatesOnOtherThreadsAttribute : Attribute;
