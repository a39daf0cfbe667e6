using OnnxLm.Cli;
using OnnxLm.Http;

namespace OnnxLm.Tests.Cli;

/// <summary><c>--reasoning-format</c> from each source (flag, <c>ONNXLM_REASONING_FORMAT</c>, config file) and its refusal
/// of other values.</summary>
public class ReasoningFormatOptionTests
{
    static readonly Dictionary<string, string> NoEnv = [];

    [Test]
    public async Task The_default_splits_reasoning()
    {
        var c = ServeConfig.Load([], 0, NoEnv, null);
        await Assert.That(c.Options.ReasoningFormat).IsEqualTo(ReasoningFormat.DeepSeek);
        await Assert.That(ServeOptionTable.ByFlag("--reasoning-format")!.Show(c.Options)).IsEqualTo("deepseek");
    }

    [Test]
    public async Task Flag_environment_and_file_each_set_it()
    {
        var cli = ServeConfig.Load(["--reasoning-format", "none"], 0, NoEnv, null);
        await Assert.That(cli.Options.ReasoningFormat).IsEqualTo(ReasoningFormat.None);
        await Assert.That(cli.SourceOf("reasoning-format")).IsEqualTo(OptionSource.Cli);

        var env = ServeConfig.Load([], 0, new Dictionary<string, string> { ["ONNXLM_REASONING_FORMAT"] = "None" }, null);
        await Assert.That(env.Options.ReasoningFormat).IsEqualTo(ReasoningFormat.None);
        await Assert.That(env.SourceOf("reasoning-format")).IsEqualTo(OptionSource.Env);

        string path = Path.Combine(Path.GetTempPath(), $"onnxlm-config-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, """{"reasoning_format": "none"}""");
        try
        {
            var file = ServeConfig.Load([], 0, NoEnv, path);
            await Assert.That(file.Options.ReasoningFormat).IsEqualTo(ReasoningFormat.None);
            await Assert.That(file.SourceOf("reasoning-format")).IsEqualTo(OptionSource.File);
            // The command line wins over the file.
            var both = ServeConfig.Load(["--reasoning-format", "deepseek"], 0, NoEnv, path);
            await Assert.That(both.Options.ReasoningFormat).IsEqualTo(ReasoningFormat.DeepSeek);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public async Task Another_value_is_refused_naming_the_choices()
    {
        var e = Assert.Throws<UsageException>(() => ServeConfig.Load(["--reasoning-format", "auto"], 0, NoEnv, null));
        await Assert.That(e.Message).Contains("--reasoning-format");
        await Assert.That(e.Message).Contains("must be deepseek or none");
    }
}
