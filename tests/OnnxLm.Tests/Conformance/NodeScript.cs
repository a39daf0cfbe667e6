using System.Diagnostics;
using System.Text.Json;

namespace OnnxLm.Tests.Conformance;

/// <summary>
/// Runs <c>tests/node/conformance.mjs</c> (the npm <c>openai</c> client) as a child process against a server. A missing
/// <c>node</c> or <c>node_modules</c> is a test failure that says what to run, never a silent skip. The script's own
/// checks decide its exit code; its last stdout line <c>RESULT {json}</c> carries what the C# side checks on the server.
/// </summary>
internal static class NodeScript
{
    static readonly Lazy<string> Folder = new(FindFolder);

    /// <summary>What a run printed; <see cref="Result"/> is the parsed <c>RESULT</c> line.</summary>
    public sealed record Run(int ExitCode, string Stdout, string Stderr, JsonElement Result)
    {
        public string Output => $"exit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
    }

    // The test command alone is enough on a fresh clone: the first script run installs the locked npm client.
    static readonly Lazy<Task> Installed = new(() => EnsureInstalledAsync(Folder.Value));

    static async Task EnsureInstalledAsync(string folder)
    {
        if (AllDependenciesInstalled(folder)) return;
        var npm = new ProcessStartInfo("npm")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "ci", "--no-audit", "--no-fund", "--loglevel=error" }) npm.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run npm ({e.Message}): Node.js 20+ with npm must be on PATH to install tests/node", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"npm ci in {folder} failed (exit {process.ExitCode}):\n{await stdout}\n{await stderr}");
        }
    }

    // Every dependency named in package.json must be in node_modules: a checkout whose package.json gained one since
    // the last install reinstalls instead of failing later on a missing module.
    static bool AllDependenciesInstalled(string folder)
    {
        using var package = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "package.json")));
        if (!package.RootElement.TryGetProperty("dependencies", out var deps)) return true;
        foreach (var dep in deps.EnumerateObject())
            if (!File.Exists(Path.Combine(folder, "node_modules", dep.Name, "package.json"))) return false;
        return true;
    }

    /// <summary>The tests/node folder (the npm packages the tests run or read); installed on first use.</summary>
    public static async Task<string> InstalledFolderAsync()
    {
        await Installed.Value;
        return Folder.Value;
    }

    static string FindFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "node");
            if (File.Exists(Path.Combine(candidate, "conformance.mjs"))) return candidate;
        }
        throw new InvalidOperationException($"tests/node/conformance.mjs not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs a scenario; throws (failing the test) with the script's whole output unless it exits 0.</summary>
    public static async Task<Run> RunAsync(Uri serverBase, string scenario, TimeSpan? timeout = null)
    {
        string folder = Folder.Value;
        await Installed.Value;
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("conformance.mjs");
        start.ArgumentList.Add(new Uri(serverBase, "v1").ToString());
        start.ArgumentList.Add(scenario);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run node ({e.Message}): Node.js 20+ must be on PATH", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                throw new TimeoutException($"node conformance.mjs {scenario} hung:\n{await stdout}\n{await stderr}");
            }
            var run = new Run(process.ExitCode, await stdout, await stderr, default);
            if (run.ExitCode != 0) throw new InvalidOperationException($"node conformance.mjs {scenario} failed: {run.Output}");
            string? line = run.Stdout.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
            if (line is null) throw new InvalidOperationException($"node conformance.mjs {scenario} printed no RESULT line: {run.Output}");
            using var doc = JsonDocument.Parse(line["RESULT ".Length..]);
            return run with { Result = doc.RootElement.Clone() };
        }
    }

    /// <summary>Runs one of tests/node's reference scripts (e.g. <c>template-reference.mjs</c>) with
    /// <paramref name="args"/> and returns its stdout; a non-zero exit fails the test with the whole output.</summary>
    public static async Task<string> RunReferenceAsync(string script, TimeSpan timeout, params string[] args)
    {
        string folder = await InstalledFolderAsync();
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {script} hung:\n{await stderr}");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"node {script} failed (exit {process.ExitCode}):\n{await stdout}\n{await stderr}");
        return await stdout;
    }
}
