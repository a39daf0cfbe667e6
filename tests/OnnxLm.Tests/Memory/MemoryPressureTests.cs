using OnnxLm.Engine.Memory;

namespace OnnxLm.Tests.Memory;

/// <summary>The admission check's bookkeeping, with an injected probe and clock (no sleeps, no timing).</summary>
public class MemoryPressureTests
{
    [Test]
    public async Task Short_only_below_the_minimum_and_the_probe_is_read_at_most_once_per_interval()
    {
        var probe = new FixedMemory(16L << 30, 4L << 30);
        var gate = new MemoryPressure(probe, minAvailableBytes: 1L << 30, intervalMs: 250);
        await Assert.That(gate.IsShort(1000)).IsFalse();
        await Assert.That(probe.Reads).IsEqualTo(1);
        probe.Available = 512L << 20;
        await Assert.That(gate.IsShort(1100)).IsFalse();   // within the interval: the last figure stands
        await Assert.That(probe.Reads).IsEqualTo(1);
        await Assert.That(gate.IsShort(1250)).IsTrue();
        await Assert.That(gate.LastAvailableBytes).IsEqualTo(512L << 20);
        probe.Available = 2L << 30;
        await Assert.That(gate.IsShort(1499)).IsTrue();
        await Assert.That(gate.IsShort(1500)).IsFalse();
        await Assert.That(probe.Reads).IsEqualTo(3);
    }

    [Test]
    public async Task A_probe_without_a_figure_never_refuses()
    {
        var gate = new MemoryPressure(new NoFigure(), minAvailableBytes: long.MaxValue, intervalMs: 0);
        await Assert.That(gate.IsShort(0)).IsFalse();
        await Assert.That(gate.LastAvailableBytes).IsEqualTo(-1);
    }

    [Test]
    public async Task The_system_probe_reports_a_figure_on_linux()
    {
        if (!OperatingSystem.IsLinux()) return;
        var s = SystemMemory.Instance.Read();
        await Assert.That(s).IsNotNull();
        await Assert.That(s!.Value.TotalBytes).IsGreaterThan(0);
        await Assert.That(s.Value.AvailableBytes).IsGreaterThan(0);
        await Assert.That(s.Value.AvailableBytes).IsLessThanOrEqualTo(s.Value.TotalBytes);
    }

    [Test]
    public async Task A_cgroup_v2_limit_up_the_tree_caps_the_available_memory()
    {
        string root = Path.Combine(Path.GetTempPath(), $"onnxlm-cgroup-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "kubepods", "pod1"));
            await File.WriteAllTextAsync(Path.Combine(root, "kubepods", "memory.max"), "4294967296\n");
            await File.WriteAllTextAsync(Path.Combine(root, "kubepods", "memory.current"), "3221225472\n");
            await File.WriteAllTextAsync(Path.Combine(root, "kubepods", "memory.stat"), "anon 1\ninactive_file 536870912\n");
            await File.WriteAllTextAsync(Path.Combine(root, "kubepods", "pod1", "memory.max"), "max\n");
            string self = Path.Combine(root, "self-cgroup");
            await File.WriteAllTextAsync(self, "0::/kubepods/pod1\n");
            var limit = SystemMemory.CgroupLimit(root, self);
            await Assert.That(limit).IsNotNull();
            await Assert.That(limit!.Value.Limit).IsEqualTo(4L << 30);
            await Assert.That(limit.Value.Available).IsEqualTo((1L << 30) + (512L << 20));   // limit − used + reclaimable
            await Assert.That(limit.Value.Path).IsEqualTo("/kubepods");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    sealed class NoFigure : IMemoryProbe
    {
        public MemorySnapshot? Read() => null;
    }
}
