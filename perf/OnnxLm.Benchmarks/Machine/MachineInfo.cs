using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace OnnxLm.Benchmarks.Machine;

/// <summary>
/// What every result file records about where it was measured: CPU, logical cores, memory, OS, runtime, git commit and
/// the load average (other processes on a shared machine are the main source of noise, so it is kept beside the numbers).
/// </summary>
public static class MachineInfo
{
    public static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    public static long MemoryBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>"1-min 5-min 15-min" from /proc/loadavg, or "" where there is none.</summary>
    public static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(' ', parts[..3]);
        }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    static string? commit;

    public static string Commit()
    {
        if (commit is not null) return commit;
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", "rev-parse HEAD") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            string text = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            commit = git.ExitCode == 0 && text.Length > 0 ? text : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            commit = "unknown";
        }
        return commit;
    }

    /// <summary>Writes the <c>"machine"</c> object; <paramref name="loadAtStart"/> is the load average when the measurement began.</summary>
    public static void Write(Utf8JsonWriter w, string loadAtStart)
    {
        w.WriteStartObject("machine");
        w.WriteString("cpu", CpuModel());
        w.WriteNumber("processorCount", Environment.ProcessorCount);
        w.WriteNumber("memoryBytes", MemoryBytes());
        w.WriteString("os", RuntimeInformation.OSDescription);
        w.WriteString("runtime", RuntimeInformation.FrameworkDescription);
        w.WriteString("commit", Commit());
        w.WriteString("loadAverageStart", loadAtStart);
        w.WriteString("loadAverageEnd", LoadAverage());
        w.WriteString("hostname", Environment.MachineName);
        w.WriteEndObject();
    }

    /// <summary>Bytes of the model's weights on disk: model.onnx plus its external data (what a decode step streams).</summary>
    public static long WeightBytes(string modelDir)
    {
        long total = 0;
        foreach (var name in new[] { "model.onnx", "model.onnx.data" })
        {
            var file = new FileInfo(Path.Combine(modelDir, name));
            if (file.Exists) total += file.Length;
        }
        return total;
    }

    public static string Now() => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
}
