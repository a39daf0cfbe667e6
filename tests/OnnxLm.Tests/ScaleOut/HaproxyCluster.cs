using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;
using TUnit.Core.Interfaces;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// Three onnxlm replicas (the built-in tiny model, one ORT thread each, one sequence at a time so load piles up where a
/// key hashes) behind HAProxy running the repository's own configuration, <c>deploy/haproxy/onnxlm.cfg</c>, all on
/// 127.0.0.1 and all stopped at the end. HAProxy is Debian's package, which <c>.ci/run</c> installs; without it the tests
/// fail and say so. Subclasses start the replicas differently (with a Redis tier, or as processes that can be killed).
/// </summary>
public class HaproxyCluster : IAsyncInitializer, IAsyncDisposable
{
    public const string HaproxyBinary = "/usr/sbin/haproxy";
    readonly List<OnnxLmServer> replicas = [];
    readonly StringBuilder haproxyOutput = new();
    Process? haproxy;

    public HttpClient Client { get; private set; } = null!;
    public IReadOnlyList<string> ReplicaNames { get; } = ["replica-a", "replica-b", "replica-c"];
    /// <summary>The in-process replicas (empty when a subclass runs them as processes).</summary>
    public IReadOnlyList<OnnxLmServer> Replicas => replicas;

    /// <summary>Adjusts each in-process replica's options (after the name and the batch size of 1).</summary>
    protected virtual void Configure(ServeOptions options)
    {
    }

    /// <summary>Starts the replicas and returns their ports, in <see cref="ReplicaNames"/> order.</summary>
    protected virtual async Task<List<int>> StartReplicasAsync()
    {
        foreach (string name in ReplicaNames)
            replicas.Add(await ServerFixture.StartDedicatedAsync(o => { o.ReplicaName = name; o.MaxBatchSize = 1; Configure(o); }));
        return [.. replicas.Select(r => r.BaseAddress.Port)];
    }

    protected virtual async ValueTask StopReplicasAsync()
    {
        foreach (var r in replicas) await r.DisposeAsync();
    }

    public virtual async Task InitializeAsync()
    {
        if (!File.Exists(HaproxyBinary))
            throw new InvalidOperationException($"{HaproxyBinary} is missing: install Debian's haproxy (apt-get install haproxy; .ci/run does)");
        var ports = await StartReplicasAsync();

        int port = FreePort();
        var info = new ProcessStartInfo(HaproxyBinary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-db", "-f", ConfigPath() }) info.ArgumentList.Add(a);
        info.Environment["ONNXLM_LB_BIND"] = $"127.0.0.1:{port}";
        for (int i = 0; i < ports.Count; i++)
            info.Environment[$"ONNXLM_REPLICA_{i + 1}"] = $"127.0.0.1:{ports[i]}";
        haproxy = Process.Start(info) ?? throw new InvalidOperationException("haproxy did not start");
        haproxy.OutputDataReceived += (_, e) => { lock (haproxyOutput) haproxyOutput.AppendLine(e.Data); };
        haproxy.ErrorDataReceived += (_, e) => { lock (haproxyOutput) haproxyOutput.AppendLine(e.Data); };
        haproxy.BeginOutputReadLine();
        haproxy.BeginErrorReadLine();
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(120) };

        // Ready when HAProxy answers and its health checks have admitted every replica (keys then reach all three).
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        for (int k = 0; seen.Count < ports.Count; k++)
        {
            if (haproxy.HasExited) throw new InvalidOperationException($"haproxy exited with {haproxy.ExitCode}:\n{Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"HAProxy did not route to all replicas within 60 s (saw {string.Join(", ", seen)}):\n{Output}");
            try
            {
                using var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/health") { Headers = { { "X-Session-Id", $"probe-{k}" } } });
                if (response.IsSuccessStatusCode && response.Headers.TryGetValues("X-Onnxlm-Replica", out var names)) seen.Add(names.Single());
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(20);
        }
    }

    public string Output
    {
        get { lock (haproxyOutput) return haproxyOutput.ToString(); }
    }

    public virtual async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        Client?.Dispose();
        if (haproxy is { HasExited: false })
        {
            haproxy.Kill();
            await haproxy.WaitForExitAsync();
        }
        haproxy?.Dispose();
        await StopReplicasAsync();
    }

    static string ConfigPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "deploy", "haproxy", "onnxlm.cfg");
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException($"deploy/haproxy/onnxlm.cfg not found above {AppContext.BaseDirectory}");
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
