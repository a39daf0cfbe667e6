using System.Globalization;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// <see cref="HaproxyCluster"/> whose three replicas are <c>onnxlm serve</c> processes (<see cref="ReplicaProcess"/>,
/// two sequences each) sharing a remote KV tier on their own <see cref="RedisServer"/>, so tests can SIGKILL or SIGTERM
/// a replica and start it again. Everything is stopped at the end.
/// </summary>
public sealed class ProcessHaproxyCluster : HaproxyCluster
{
    readonly string kvDir = Path.Combine(Path.GetTempPath(), "onnxlm-remote-tests", Guid.NewGuid().ToString("N"));
    readonly List<ReplicaProcess> processes = [];

    public RedisServer Redis { get; } = new();

    /// <summary>The tiny model with a 4,096-token context: a stream of a few thousand tokens lasts long enough to be cut.</summary>
    public static string Model => Fixtures.TestModels.Get(OnnxLm.Builder.ModelBuilderOptions.Tiny with { ContextLength = 4096 });
    public IReadOnlyList<ReplicaProcess> Processes => processes;

    protected override async Task<List<int>> StartReplicasAsync()
    {
        foreach (string name in ReplicaNames)
            processes.Add(new ReplicaProcess(name, FreePort(), Model,
                ["--max-batch-size", "2", "--no-ssd-cache", "--kv-cache-dir", kvDir, "--remote-kv", $"redis://127.0.0.1:{Redis.Port.ToString(CultureInfo.InvariantCulture)}",
                 "--drain-timeout", "30"]));
        await Task.WhenAll(processes.Select(p => p.StartAsync()));
        return [.. processes.Select(p => p.Port)];
    }

    protected override async ValueTask StopReplicasAsync()
    {
        foreach (var p in processes) await p.DisposeAsync();
    }

    public override async Task InitializeAsync()
    {
        await Redis.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Redis.DisposeAsync();
        try { Directory.Delete(kvDir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}
