using OnnxLm.Tests.Conformance;

namespace OnnxLm.Tests.Tools;

/// <summary>
/// The npm <c>openai</c> client's tool flows against a Qwen 2.5-vocabulary model (<c>tests/node/conformance.mjs</c>,
/// scenario <c>tools</c>): <c>chat.completions.stream</c> assembles the same calls as <c>create</c> (arguments equal
/// byte for byte), and <c>runTools</c> runs a named function once and loops an auto tool through three rounds of tool
/// results rendered by the template.
/// </summary>
[ClassDataSource<ToolServer>(Shared = SharedType.PerTestSession)]
public class NodeToolClientTests(ToolServer server)
{
    [Test]
    public async Task Node_client_streams_tool_calls_and_runs_tools()
    {
        var run = await NodeScript.RunAsync(server.Server.BaseAddress, "tools", TimeSpan.FromMinutes(3));
        await Assert.That(run.Stdout).Contains("checks passed");
        await Assert.That(run.Result.GetProperty("streamedCalls").GetInt32()).IsGreaterThan(0);
        await Assert.That(run.Result.GetProperty("invoked").GetInt32()).IsEqualTo(1);
        await Assert.That(run.Result.GetProperty("rounds").GetInt32()).IsEqualTo(3);
    }
}
