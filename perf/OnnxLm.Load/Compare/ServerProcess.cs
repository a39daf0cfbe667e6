using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OnnxLm.Load.Compare;

/// <summary>
/// A server started for a comparison: its command runs under <c>sh -c 'exec …'</c> so the server itself is our child
/// (signals reach it, not a wrapper shell), with stdout and stderr appended to a log file so a chatty server never
/// blocks on a full pipe. <see cref="DisposeAsync"/> sends SIGTERM, waits for a graceful exit, then kills.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    readonly Process process;

    ServerProcess(string name, Process process, string logPath, Uri url)
    {
        Name = name;
        this.process = process;
        LogPath = logPath;
        Url = url;
    }

    public string Name { get; }
    public string LogPath { get; }
    public Uri Url { get; }

    public static ServerProcess Start(string name, string command, int port, string logDir)
    {
        Directory.CreateDirectory(logDir);
        string log = Path.Combine(logDir, $"onnxlm-load-{name}-{port}.log");
        File.WriteAllText(log, "$ " + command + "\n");
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"exec {command} >>{Quote(log)} 2>&1 </dev/null");
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {name}");
        return new ServerProcess(name, p, log, new Uri($"http://127.0.0.1:{port}/"));
    }

    /// <summary>
    /// Polls <c>GET /health</c> until it answers 200 with a status other than "loading" (onnxlm answers /health while its
    /// model still loads, and 503s completions until then); fails early with the log's tail if the process exits.
    /// </summary>
    public async Task WaitHealthyAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var health = new Uri(Url, "health");
        long start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(start) < timeout)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{Name} exited with code {process.ExitCode} before it was healthy:\n{LogTail()}");
            try
            {
                using var response = await http.GetAsync(health, ct).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    string body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                    if (!body.Contains("\"loading\"", StringComparison.Ordinal)) return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
            }
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
        throw new TimeoutException($"{Name} was not healthy after {timeout.TotalSeconds:0} s:\n{LogTail()}");
    }

    public string LogTail(int lines = 20)
    {
        try
        {
            var all = File.ReadAllLines(LogPath);
            return string.Join('\n', all.AsSpan(Math.Max(0, all.Length - lines)).ToArray());
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            if (!OperatingSystem.IsWindows()) _ = Kill(process.Id, 15); // SIGTERM: let the server drain and free its model
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"{Name} ignored SIGTERM for 15 s; killing it");
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        process.Dispose();
    }

    static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
