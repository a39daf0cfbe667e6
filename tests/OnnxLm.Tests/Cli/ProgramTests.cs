using System.Text.Json.Nodes;
using OnnxLm.Engine.Model;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Cli;

/// <summary>
/// <c>OnnxLm.Program.Main</c> in-process: exit codes (0 ok, 2 usage or start error) and the one-line messages on stderr.
/// </summary>
public class ProgramTests
{
    /// <summary>Runs Main and returns what it wrote. TUnit already routes Console.Out/Error into the current test's
    /// context (per async flow), so reading that back isolates these tests from others running in parallel, where
    /// Console.SetOut/SetError would swap a process-wide writer under them.</summary>
    static async Task<(int Code, string Out, string Error)> RunMain(params string[] args)
    {
        var context = TestContext.Current!;
        int outStart = context.GetStandardOutput().Length, errorStart = context.GetErrorOutput().Length;
        int code = await Program.Main(args);
        await Console.Out.FlushAsync();
        await Console.Error.FlushAsync();
        return (code, context.GetStandardOutput()[outStart..], context.GetErrorOutput()[errorStart..]);
    }

    static string TempDir(string tag) => Path.Combine(Path.GetTempPath(), $"onnxlm-cli-{tag}-{Guid.NewGuid():N}");

    [Test]
    public async Task Unknown_option_exits_2_naming_it()
    {
        var (code, _, error) = await RunMain("serve", "--frobnicate");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("--frobnicate");
    }

    [Test]
    public async Task Unknown_command_exits_2()
    {
        var (code, _, error) = await RunMain("frobnicate");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("frobnicate");
    }

    [Test]
    public async Task Non_numeric_port_exits_2()
    {
        var (code, _, error) = await RunMain("--port", "abc");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("--port");
        await Assert.That(error).Contains("abc");
    }

    [Test]
    public async Task Missing_option_value_exits_2()
    {
        var (code, _, error) = await RunMain("serve", "--model");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("--model");
    }

    [Test]
    public async Task Serve_with_a_missing_model_folder_exits_2_naming_the_path()
    {
        string missing = TempDir("missing");
        var (code, _, error) = await RunMain("serve", "--model", missing, "--port", "0");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).StartsWith("onnxlm: ");
        await Assert.That(error).Contains(missing);
    }

    [Test]
    public async Task Serve_with_past_present_share_buffer_false_exits_2_explaining_why()
    {
        string dir = TempDir("noshare");
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var file in Directory.GetFiles(TestModels.TinyFp32))
                File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
            string configPath = Path.Combine(dir, "genai_config.json");
            var config = JsonNode.Parse(await File.ReadAllTextAsync(configPath))!;
            config["search"]!["past_present_share_buffer"] = false;
            await File.WriteAllTextAsync(configPath, config.ToJsonString());

            var (code, _, error) = await RunMain("serve", "--model", dir, "--port", "0");
            await Assert.That(code).IsEqualTo(2);
            await Assert.That(error).Contains(dir);
            await Assert.That(error).Contains("past_present_share_buffer");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task Context_length_above_the_model_exits_2()
    {
        var (code, _, error) = await RunMain("serve", "--model", TestModels.TinyFp32, "--port", "0", "--context-length", "100000", "--no-ssd-cache");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("--context-length");
    }

    [Test]
    [Arguments("--version")]
    [Arguments("-V")]
    public async Task Version_prints_the_versions_of_onnxlm_ort_and_genai_and_exits_0(string flag)
    {
        var (code, stdout, _) = await RunMain(flag);
        await Assert.That(code).IsEqualTo(0);
        var lines = stdout.Trim().Split('\n');
        await Assert.That(lines).IsEquivalentTo([$"onnxlm {Program.Version}", "ONNX Runtime 1.31.1", $"ONNX Runtime GenAI {OnnxLm.Hosting.VersionInfo.GenAiVersion}"]);
    }

    [Test]
    public async Task The_reported_genai_version_is_the_referenced_package_version()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props"))) dir = dir.Parent;
        string props = await File.ReadAllTextAsync(Path.Combine(dir!.FullName, "Directory.Packages.props"));
        await Assert.That(props).Contains($"Include=\"Microsoft.ML.OnnxRuntimeGenAI.Managed\" Version=\"{OnnxLm.Hosting.VersionInfo.GenAiVersion}\"");
    }

    [Test]
    public async Task Help_exits_0_and_lists_every_serve_option_with_its_default()
    {
        var (code, stdout, _) = await RunMain("--help");
        await Assert.That(code).IsEqualTo(0);
        await Assert.That(stdout).Contains("make-model");
        await Assert.That(stdout).Contains("config show");
        // One entry per table row: the flag (and its value placeholder) starts a line, its default follows.
        string flat = System.Text.RegularExpressions.Regex.Replace(stdout, @"\n\s+", " ");
        foreach (var option in OnnxLm.Cli.ServeOptionTable.All)
        {
            string head = "  " + option.Flag + (option.ValueName.Length > 0 ? " " + option.ValueName : "");
            await Assert.That(stdout).Contains("\n" + head + " ");
            await Assert.That(flat).Contains("(default: " + option.DefaultText + ")");
        }
        await Assert.That(stdout).Contains("ONNXLM_MAX_BATCH_SIZE");
    }

    [Test]
    public async Task The_readme_serving_table_lists_every_option()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "README.md"))) dir = dir.Parent;
        string readme = await File.ReadAllTextAsync(Path.Combine(dir!.FullName, "README.md"));
        foreach (var option in OnnxLm.Cli.ServeOptionTable.All)
            await Assert.That(readme).Contains("`" + option.Flag);
    }

    [Test]
    public async Task Service_install_refuses_a_config_file_serve_would_refuse()
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxlm-config-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, "{\"max_batch\": 4}");
        try
        {
            var (code, output, error) = await RunMain("service", "install", "--dry-run", "--platform", "systemd",
                "--binary", "/usr/local/bin/onnxlm", "--config", path);
            await Assert.That(code).IsEqualTo(2);
            await Assert.That(error).Contains("\"max_batch\"");
            await Assert.That(output).DoesNotContain("[Service]");
        }
        finally { File.Delete(path); }
    }

    [Test]
    public async Task Config_show_with_a_bad_config_file_exits_2_naming_the_file_and_key()
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxlm-config-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, "{\"max-batch-size\": 999}");
        try
        {
            var (code, _, error) = await RunMain("config", "show", "--config", path);
            await Assert.That(code).IsEqualTo(2);
            await Assert.That(error).Contains(path);
            await Assert.That(error).Contains("\"max-batch-size\"");
            await Assert.That(error).Contains("999");
        }
        finally { File.Delete(path); }
    }

    [Test]
    public async Task Make_model_writes_a_folder_that_passes_the_model_contract()
    {
        string dir = TempDir("made");
        try
        {
            var (code, stdout, error) = await RunMain("make-model", dir, "--vocab", "300", "--context", "64", "--seed", "5");
            await Assert.That(error).IsEmpty();
            await Assert.That(code).IsEqualTo(0);
            await Assert.That(stdout).Contains(dir);
            var contract = ModelContract.Inspect(dir);
            await Assert.That(contract.Config.VocabSize).IsEqualTo(300);
            await Assert.That(contract.MaxPositions).IsEqualTo(64);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task Make_model_without_a_directory_exits_2()
    {
        var (code, _, error) = await RunMain("make-model");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("directory");
    }

    [Test]
    public async Task Make_model_with_an_unknown_option_exits_2()
    {
        string dir = TempDir("unused");
        var (code, _, error) = await RunMain("make-model", dir, "--wat");
        await Assert.That(code).IsEqualTo(2);
        await Assert.That(error).Contains("--wat");
        await Assert.That(Directory.Exists(dir)).IsFalse();
    }
}
