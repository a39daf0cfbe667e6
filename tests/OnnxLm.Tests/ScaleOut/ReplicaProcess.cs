using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace OnnxLm.Tests.ScaleOut;

/// <summary>
/// One replica as its own <c>onnxlm serve</c> process (the test build's executable, the tiny model, one ORT thread) on a
/// fixed port of 127.0.0.1, so a test can SIGKILL or SIGTERM it and start it again on the same port. Killed on dispose.
/// </summary>
public sealed class ReplicaProcess(string name, int port, string model, IReadOnlyList<string> extraArguments) : IAsyncDisposable
{
    readonly StringBuilder output = new();
    Process? process;

    public string Name { get; } = name;
    public int Port { get; } = port;
    public HttpClient Client { get; } = new() { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(60) };
    public bool Running => process is { HasExited: false };
    public int ExitCode => process!.ExitCode;

    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    /// <summary>Starts the process and waits until <c>/readyz</c> answers 200.</summary>
    public async Task StartAsync()
    {
        var info = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "onnxlm"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "serve", "--model", model, "--host", "127.0.0.1", "--port", Port.ToString(CultureInfo.InvariantCulture),
                                  "--threads", "1", "--replica-name", Name })
            info.ArgumentList.Add(a);
        foreach (var a in extraArguments) info.ArgumentList.Add(a);
        process?.Dispose();
        process = Process.Start(info) ?? throw new InvalidOperationException("onnxlm did not start");
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"{Name} exited with {process.ExitCode}:\n{Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{Name} was not ready within 60 s:\n{Output}");
            try
            {
                using var ready = await Client.GetAsync("/readyz");
                if (ready.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Sends a signal to the process at once (no helper process in between): SIGKILL, SIGTERM, SIGSTOP.</summary>
    public void Signal(int signal)
    {
        if (Kill(process!.Id, signal) != 0) throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public const int SigKill = 9, SigTerm = 15, SigStop = 19;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int signal);

    public async Task WaitForExitAsync(TimeSpan timeout) => await process!.WaitForExitAsync().WaitAsync(timeout);

    /// <summary>Kills the process (if it runs) and waits for it; <see cref="StartAsync"/> may start it again.</summary>
    public async Task StopAsync()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (process is { HasExited: false })
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process?.Dispose();
        process = null;
    }
}
