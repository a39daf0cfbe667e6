namespace OnnxLm.Tests;
public class SmokeTests
{
    [Test]
    public async Task Ort_loads() => await Assert.That(OnnxLm.Engine.Model.Probe.Version).IsNotEmpty();
}
