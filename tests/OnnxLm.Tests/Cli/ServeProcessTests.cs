using System.Diagnostics;
using System.Text.RegularExpressions;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cli;

/// <summary>
/// <c>onnxlm serve</c> as a real child process (the app host built next to the tests): it reports where it listens,
/// answers, and exits 0 after SIGTERM or SIGINT, which only a separate process can receive.
/// </summary>
public partial class ServeProcessTests
{
    [GeneratedRegex(@"listening on (http://\S+)")]
    private static partial Regex ListeningLine();

    [Test]
    [Arguments("TERM")]
    [Arguments("INT")]
    public async Task Serve_answers_then_exits_0_on_signal(string signal)
    {
        if (OperatingSystem.IsWindows()) return;   // POSIX signals only
        string exe = Path.Combine(AppContext.BaseDirectory, "onnxlm");
        var info = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "serve", "--model", TestModels.TinyFp32, "--port", "0", "--threads", "1", "--no-ssd-cache" }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = new System.Text.StringBuilder();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            if (ListeningLine().Match(e.Data) is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            var baseAddress = await address.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = new Uri(baseAddress) };
            using var health = await client.GetAsync("/health");
            await Assert.That((int)health.StatusCode).IsEqualTo(200);

            using (var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await Assert.That(process.ExitCode).IsEqualTo(0);
            await Assert.That(await stderr).IsEmpty();
            string log;
            lock (output) log = output.ToString();
            await Assert.That(log).Contains("stopped");
        }
        finally
        {
            if (!process.HasExited) process.Kill();
        }
    }
}
