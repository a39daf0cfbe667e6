using System.Globalization;
using System.Runtime.InteropServices;

namespace OnnxLm.Engine.Memory;

/// <summary>
/// The machine's memory as the kernel reports it. Linux: <c>MemTotal</c> and <c>MemAvailable</c> from /proc/meminfo
/// (free memory plus what the kernel can reclaim without swapping), each capped by this process's cgroup (v2
/// <c>memory.max</c> − <c>memory.current</c> + reclaimable file pages, walking up to the root; v1 <c>limit_in_bytes</c>).
/// macOS: physical memory from <c>sysctl hw.memsize</c>; the available figure from <c>kern.memorystatus_level</c>, the
/// percentage of memory the kernel counts as available (what Activity Monitor's memory pressure is drawn from).
/// A read costs one small file read (Linux) or two sysctls (macOS); callers on hot paths rate-limit it
/// (<see cref="MemoryPressure"/>).
/// </summary>
public sealed partial class SystemMemory : IMemoryProbe
{
    public static SystemMemory Instance { get; } = new();

    public MemorySnapshot? Read()
    {
        try
        {
            if (OperatingSystem.IsLinux()) return ReadLinux();
            if (OperatingSystem.IsMacOS()) return ReadMac();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException)
        {
        }
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return total > 0 ? new MemorySnapshot(total, total, "total memory (no figure for available memory on this platform)") : null;
    }

    /// <summary>What the start-up arithmetic starts from. Linux: the available memory now. macOS: the physical memory
    /// (the rule: macOS keeps memory busy with caches and compression, so "available" at an idle moment says
    /// little about what a long-running server can have; the reserve stands for the OS and the other apps).</summary>
    public static MemorySnapshot? AtStart()
    {
        var now = Instance.Read();
        if (now is { } s && OperatingSystem.IsMacOS())
            return s with { AvailableBytes = s.TotalBytes, Source = "physical memory (sysctl hw.memsize)" };
        return now;
    }

    static MemorySnapshot? ReadLinux()
    {
        long total = -1, available = -1;
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal)) total = Kb(line);
            else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)) available = Kb(line);
            if (total >= 0 && available >= 0) break;
        }
        if (total <= 0) return null;
        string source = "MemAvailable";
        if (available < 0)
        {
            available = total;   // kernels before 3.14 lack MemAvailable
            source = "MemTotal";
        }
        if (CgroupLimit() is { } cg)
        {
            if (cg.Limit < total) total = cg.Limit;
            if (cg.Available < available)
            {
                available = Math.Max(cg.Available, 0);
                source = $"cgroup {cg.Path} memory limit";
            }
        }
        return new MemorySnapshot(total, available, source);
    }

    static long Kb(string line)
    {
        var digits = line.AsSpan(line.IndexOf(':') + 1).Trim();
        int space = digits.IndexOf(' ');
        if (space > 0) digits = digits[..space];
        return long.TryParse(digits, NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : -1;
    }

    /// <summary>The tightest cgroup memory limit over this process's cgroup and its ancestors, and what it leaves.</summary>
    internal static (long Limit, long Available, string Path)? CgroupLimit(string root = "/sys/fs/cgroup", string self = "/proc/self/cgroup")
    {
        if (!File.Exists(self)) return null;
        (long, long, string)? best = null;
        foreach (var line in File.ReadLines(self))
        {
            // v2: "0::/user.slice/…"; v1: "7:memory:/docker/…".
            var parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            if (parts[0] == "0" && parts[1].Length == 0)
            {
                for (string? dir = parts[2]; dir is not null; dir = Parent(dir))
                {
                    string at = Path.Join(root, dir);
                    long limit = ReadLong(Path.Join(at, "memory.max"));
                    if (limit <= 0) continue;
                    long used = ReadLong(Path.Join(at, "memory.current"));
                    long reclaimable = StatField(Path.Join(at, "memory.stat"), "inactive_file ");
                    long left = limit - Math.Max(used, 0) + Math.Max(reclaimable, 0);
                    if (best is null || left < best.Value.Item2) best = (limit, left, dir);
                }
            }
            else if (parts[1].Split(',').Contains("memory"))
            {
                string at = Path.Join(root, "memory", parts[2]);
                if (!Directory.Exists(at)) at = Path.Join(root, "memory");
                long limit = ReadLong(Path.Join(at, "memory.limit_in_bytes"));
                if (limit <= 0 || limit >= (1L << 60)) continue;   // "no limit" is a huge page-aligned number
                long used = ReadLong(Path.Join(at, "memory.usage_in_bytes"));
                long reclaimable = StatField(Path.Join(at, "memory.stat"), "total_inactive_file ");
                long left = limit - Math.Max(used, 0) + Math.Max(reclaimable, 0);
                if (best is null || left < best.Value.Item2) best = (limit, left, parts[2]);
            }
        }
        return best;

        static string? Parent(string dir) => dir is "/" or "" ? null : Path.GetDirectoryName(dir) is { Length: > 0 } p ? p : "/";
    }

    /// <summary>A number from a one-line cgroup file; -1 when absent or "max".</summary>
    static long ReadLong(string path)
    {
        try
        {
            if (!File.Exists(path)) return -1;
            var text = File.ReadAllText(path).AsSpan().Trim();
            return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : -1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    static long StatField(string path, string key)
    {
        try
        {
            if (!File.Exists(path)) return -1;
            foreach (var line in File.ReadLines(path))
                if (line.StartsWith(key, StringComparison.Ordinal)
                    && long.TryParse(line.AsSpan(key.Length).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v))
                    return v;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return -1;
    }

    const string LibSystem = "/usr/lib/libSystem.B.dylib";

    [LibraryImport(LibSystem, EntryPoint = "sysctlbyname", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int sysctlbyname(string name, void* oldp, nuint* oldlenp, void* newp, nuint newlen);

    static unsafe MemorySnapshot? ReadMac()
    {
        ulong total = 0;
        nuint size = (nuint)sizeof(ulong);
        if (sysctlbyname("hw.memsize", &total, &size, null, 0) != 0 || total == 0) return null;
        int level = 0;
        nuint levelSize = (nuint)sizeof(int);
        if (sysctlbyname("kern.memorystatus_level", &level, &levelSize, null, 0) != 0 || level is <= 0 or > 100)
            return new MemorySnapshot((long)total, (long)total, "physical memory (sysctl hw.memsize)");
        return new MemorySnapshot((long)total, (long)(total / 100 * (ulong)level), $"kern.memorystatus_level {level} %");
    }
}
