using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using OnnxLm.Engine.Cache.Remote;
using StackExchange.Redis;
using TUnit.Core.Interfaces;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// Debian's <c>redis-server</c> (which <c>.ci/run</c> installs) on a free port of 127.0.0.1 with no persistence
/// (<c>--save "" --appendonly no</c>), started by the test and stopped at the end. <see cref="Kill"/> sends SIGKILL;
/// <see cref="StartAsync"/> starts it again on the same port, empty. Without the binary the tests fail and say so.
/// </summary>
public sealed class RedisServer : IAsyncInitializer, IAsyncDisposable
{
    public const string Binary = "/usr/bin/redis-server";
    readonly StringBuilder output = new();
    Process? process;
    ConnectionMultiplexer? admin;

    public int Port { get; } = FreePort();
    public RedisEndpoint Endpoint => new("127.0.0.1", Port, null, 0);

    /// <summary>Starts the server unless it runs (TUnit also initializes it when it is a property of another fixture).</summary>
    public Task InitializeAsync() => process is { HasExited: false } ? Task.CompletedTask : StartAsync();

    public async Task StartAsync()
    {
        if (!File.Exists(Binary))
            throw new InvalidOperationException($"{Binary} is missing: install Debian's redis-server (apt-get install redis-server; .ci/run does)");
        var info = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no", "--logfile", "" })
            info.ArgumentList.Add(a);
        process?.Dispose();
        process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"redis-server exited with {process.ExitCode}:\n{Output}");
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, Port);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
    }

    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    /// <summary>SIGKILL: the server is gone at once, with everything it held.</summary>
    public async Task Kill()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    /// <summary>SIGSTOP / SIGCONT: the server keeps its connections but answers nothing until resumed.</summary>
    public Task Pause() => Signal("-STOP");
    public Task Resume() => Signal("-CONT");

    async Task Signal(string signal)
    {
        using var kill = Process.Start("kill", [signal, process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    /// <summary>A connection for the test itself (to read, corrupt or flush values).</summary>
    public async Task<IDatabase> DatabaseAsync()
    {
        admin ??= await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{Port},allowAdmin=true,abortConnect=false");
        return admin.GetDatabase();
    }

    public async Task<List<RedisKey>> KeysAsync(string pattern)
    {
        await DatabaseAsync();
        return [.. admin!.GetServer("127.0.0.1", Port).Keys(pattern: pattern)];
    }

    public async Task FlushAsync()
    {
        await DatabaseAsync();
        await admin!.GetServer("127.0.0.1", Port).FlushDatabaseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        admin?.Dispose();
        admin = null;
        await Kill();
        process?.Dispose();
        process = null;
    }

    static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
