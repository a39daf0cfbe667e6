using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using OnnxLm.Hosting;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cli;

/// <summary>
/// <c>onnxlm serve</c> as a real child process (the app host built next to the tests): it reports where it listens,
/// answers, exits 0 after SIGTERM or SIGINT, and exits 130 at once on a second signal during a drain, which only a
/// separate process can receive. The child gets no ONNXLM_* variables and an empty config directory, so neither this
/// machine's environment nor its config file can change what is tested.
/// </summary>
public partial class ServeProcessTests
{
    [GeneratedRegex(@"listening on (http://\S+)")]
    private static partial Regex ListeningLine();

    /// <summary>A started server process with its stdout collected and its address once it listens.</summary>
    sealed class ServeProcess : IDisposable
    {
        readonly StringBuilder output = new();
        readonly TaskCompletionSource<string> address = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly string configHome = Path.Combine(Path.GetTempPath(), $"onnxlm-xdg-{Guid.NewGuid():N}");
        readonly TaskCompletionSource<int> serverPid = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ServeProcess(params string[] extra) : this(ignoreSigInt: false, extra) { }

        /// <param name="ignoreSigInt">Start the server as `sh -c 'onnxlm … &amp; wait'` does: a background job of a
        /// non-interactive shell, which inherits SIGINT as ignored (the shell is then <see cref="Process"/>).</param>
        public ServeProcess(bool ignoreSigInt, params string[] extra)
        {
            string binary = Path.Combine(AppContext.BaseDirectory, "onnxlm");
            var info = new ProcessStartInfo(ignoreSigInt ? "/bin/sh" : binary)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string name in info.Environment.Keys.Where(k => k.StartsWith("ONNXLM_", StringComparison.Ordinal)).ToList())
                info.Environment.Remove(name);
            info.Environment["XDG_CONFIG_HOME"] = configHome;
            if (ignoreSigInt)
            {
                foreach (var a in new[] { "-c", "\"$0\" \"$@\" & echo \"server pid $!\"; wait $!", binary }) info.ArgumentList.Add(a);
            }
            foreach (var a in new[] { "serve", "--model", TestModels.TinyFp32, "--port", "0", "--threads", "1", "--no-ssd-cache" }.Concat(extra))
                info.ArgumentList.Add(a);
            Process = Process.Start(info)!;
            if (!ignoreSigInt) serverPid.TrySetResult(Process.Id);
            Process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (output) output.AppendLine(e.Data);
                if (e.Data.StartsWith("server pid ", StringComparison.Ordinal))
                    serverPid.TrySetResult(int.Parse(e.Data["server pid ".Length..], System.Globalization.CultureInfo.InvariantCulture));
                if (ListeningLine().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
            };
            Process.BeginOutputReadLine();
            Error = Process.StandardError.ReadToEndAsync();
        }

        public Process Process { get; }
        public Task<string> Error { get; }

        /// <summary>The server's own process id (differs from <see cref="Process"/> when a shell started it).</summary>
        public int ServerPid => serverPid.Task.Result;

        public string Output
        {
            get { lock (output) return output.ToString(); }
        }

        public async Task<Uri> ReadyAsync()
        {
            var baseAddress = new Uri(await address.Task.WaitAsync(TimeSpan.FromSeconds(60)));
            using var client = new HttpClient { BaseAddress = baseAddress };
            for (int i = 0; i < 600; i++)
            {
                using var ready = await client.GetAsync("/readyz");
                if (ready.IsSuccessStatusCode) return baseAddress;
                await Task.Delay(50);
            }
            throw new TimeoutException("/readyz never turned ready");
        }

        public async Task SignalAsync(string signal)
        {
            using var kill = Process.Start("kill", ["-" + signal, Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }

        public async Task SignalServerAsync(string signal)
        {
            int pid = await serverPid.Task.WaitAsync(TimeSpan.FromSeconds(10));
            using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }

        public async Task WaitForOutputAsync(string text)
        {
            for (int i = 0; i < 400 && !Output.Contains(text, StringComparison.Ordinal); i++) await Task.Delay(25);
            if (!Output.Contains(text, StringComparison.Ordinal)) throw new TimeoutException($"no '{text}' in:\n{Output}");
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
            if (Directory.Exists(configHome)) Directory.Delete(configHome, recursive: true);
        }
    }

    [Test]
    [Arguments("TERM")]
    [Arguments("INT")]
    public async Task Serve_answers_then_exits_0_on_signal(string signal)
    {
        if (OperatingSystem.IsWindows()) return;   // POSIX signals only
        using var server = new ServeProcess();
        var baseAddress = await server.ReadyAsync();
        using var client = new HttpClient { BaseAddress = baseAddress };
        using var health = await client.GetAsync("/health");
        await Assert.That((int)health.StatusCode).IsEqualTo(200);

        // A test run started as a background job of a non-interactive shell passes SIGINT on as ignored; the server must
        // have reset it, or the signal below would be dropped and the test would only time out.
        if (OperatingSystem.IsLinux())
        {
            string status = await File.ReadAllTextAsync($"/proc/{server.Process.Id}/status");
            await Assert.That(InheritedSignals.IsIgnored(status)).IsFalse().Because(
                $"the server runs with SIGINT ignored (this test process has it ignored: {InheritedSignals.IsIgnored(await File.ReadAllTextAsync("/proc/self/status"))}), " +
                "inherited from a parent that started the run as a background job, and did not reset it");
        }

        await server.SignalAsync(signal);
        if (!await server.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(t => t.IsCompletedSuccessfully))
            throw new TimeoutException($"SIG{signal} did not stop the server within 30 s; its output:\n{server.Output}");
        await Assert.That(server.Process.ExitCode).IsEqualTo(0);
        await Assert.That(await server.Error).IsEmpty();
        await Assert.That(server.Output).Contains("stopped");
    }

    [Test]
    public async Task Sigint_ignored_by_the_parent_is_reset_and_drains()
    {
        if (!OperatingSystem.IsLinux()) return;   // reads /proc
        // `sh -c 'cmd & wait'` without job control starts cmd with SIGINT ignored: exactly the CI case.
        using var server = new ServeProcess(ignoreSigInt: true);
        await server.ReadyAsync();
        await server.WaitForOutputAsync("SIGINT was ignored");
        string status = await File.ReadAllTextAsync($"/proc/{server.ServerPid}/status");
        await Assert.That(InheritedSignals.IsIgnored(status)).IsFalse();

        await server.SignalServerAsync("INT");
        await server.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await Assert.That(server.Process.ExitCode).IsEqualTo(0);
        await Assert.That(server.Output).Contains("stopped");
    }

    [Test]
    [Arguments("SigIgn:\t0000000000001006\n", true)]
    [Arguments("SigIgn:\t0000000000001004\n", false)]
    [Arguments("SigCgt:\t0000000000000002\nSigIgn:\t0000000000000000\n", false)]
    [Arguments("Name:\tx\n", false)]
    public async Task Reads_the_sigint_disposition_from_proc_status(string status, bool ignored) =>
        await Assert.That(InheritedSignals.IsIgnored(status)).IsEqualTo(ignored);

    [Test]
    public async Task A_second_signal_during_the_drain_exits_130_at_once()
    {
        if (OperatingSystem.IsWindows()) return;
        using var server = new ServeProcess("--drain-timeout", "60");
        var baseAddress = await server.ReadyAsync();
        // A request whose body never finishes arriving: its handler stays in flight, so the drain waits for it.
        using var slow = new TcpClient();
        await slow.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = slow.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\":"));
        await Task.Delay(300);

        await server.SignalAsync("TERM");
        await server.WaitForOutputAsync("draining: 1 requests running");
        await Task.Delay(300);
        await Assert.That(server.Process.HasExited).IsFalse();

        var clock = Stopwatch.StartNew();
        await server.SignalAsync("TERM");
        await server.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await Assert.That(clock.Elapsed).IsLessThan(TimeSpan.FromSeconds(5));
        await Assert.That(server.Process.ExitCode).IsEqualTo(130);
        await Assert.That(await server.Error).Contains("second SIGTERM");
    }
}
