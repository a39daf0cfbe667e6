using OnnxLm.Cli;
using OnnxLm.Engine.Text;

namespace OnnxLm.Tests.Cli;

/// <summary><c>--tool-call-format</c>: auto by default (detected from the model), each format by name from the flag, the
/// environment or a config file, and other values refused naming the choices.</summary>
public class ToolCallFormatOptionTests
{
    static readonly Dictionary<string, string> NoEnv = [];

    [Test]
    public async Task The_default_detects_and_every_format_can_be_named()
    {
        var c = ServeConfig.Load([], 0, NoEnv, null);
        await Assert.That(c.Options.ToolCallFormat).IsNull();
        await Assert.That(ServeOptionTable.ByFlag("--tool-call-format")!.Show(c.Options)).IsEqualTo("auto");
        foreach (var format in ToolCallFormat.All)
        {
            var named = ServeConfig.Load(["--tool-call-format", format.Name], 0, NoEnv, null);
            await Assert.That(named.Options.ToolCallFormat).IsEqualTo(format);
            await Assert.That(named.SourceOf("tool-call-format")).IsEqualTo(OptionSource.Cli);
        }
        var env = ServeConfig.Load([], 0, new Dictionary<string, string> { ["ONNXLM_TOOL_CALL_FORMAT"] = "Mistral" }, null);
        await Assert.That(env.Options.ToolCallFormat).IsEqualTo(ToolCallFormat.Mistral);
        await Assert.That(ServeConfig.Load(["--tool-call-format", "auto"], 0, NoEnv, null).Options.ToolCallFormat).IsNull();
    }

    [Test]
    public async Task Another_value_is_refused_naming_the_choices()
    {
        var e = Assert.Throws<UsageException>(() => ServeConfig.Load(["--tool-call-format", "xml"], 0, NoEnv, null));
        await Assert.That(e.Message).Contains("--tool-call-format");
        await Assert.That(e.Message).Contains("hermes");
        await Assert.That(e.Message).Contains("deepseek-r1");
    }
}
