using OnnxLm.Hosting;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// <see cref="HaproxyCluster"/> whose three in-process replicas share a remote KV tier on their own
/// <see cref="RedisServer"/>, which tests kill and restart. Everything is stopped at the end.
/// </summary>
public sealed class RedisHaproxyCluster : HaproxyCluster
{
    readonly string kvDir = Path.Combine(Path.GetTempPath(), "onnxlm-remote-tests", Guid.NewGuid().ToString("N"));

    public RedisServer Redis { get; } = new();

    protected override void Configure(ServeOptions options)
    {
        options.RemoteKv = Redis.Endpoint;
        options.RemoteKvAlwaysFetch = true;   // the tiny model recomputes faster than any fetch
        options.KvCacheDir = kvDir;           // the content-hash cache, not the user's
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
