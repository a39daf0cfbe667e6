using OnnxLm.Cli;
using OnnxLm.Hosting;

namespace OnnxLm.Tests.Cli;

/// <summary>
/// <see cref="ServeConfig"/>: defaults &lt; config file &lt; ONNXLM_* environment &lt; command line, for scalars and for
/// repeatable options (which come whole from one source); both spellings of file keys; errors that name the key and its
/// source; <c>config show</c>. The environment and the default config path are passed in, never read from this process.
/// </summary>
public class ServeConfigTests
{
    static readonly Dictionary<string, string> NoEnv = [];

    sealed class TempFile : IDisposable
    {
        public TempFile(string json)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"onnxlm-config-{Guid.NewGuid():N}.json");
            File.WriteAllText(Path, json);
        }

        public string Path { get; }
        public void Dispose() => File.Delete(Path);
    }

    static ServeConfig Load(string? file, Dictionary<string, string> env, params string[] args) =>
        ServeConfig.Load(args, 0, env, file);

    /// <summary>The message of the <see cref="UsageException"/> loading must throw.</summary>
    static string LoadError(string? file, Dictionary<string, string> env, params string[] args)
    {
        try
        {
            Load(file, env, args);
        }
        catch (UsageException e)
        {
            return e.Message;
        }
        throw new InvalidOperationException("expected a UsageException");
    }

    [Test]
    public async Task Without_any_source_every_option_has_its_default()
    {
        var c = Load(null, NoEnv);
        await Assert.That(c.Options.MaxBatchSize).IsEqualTo(8);
        await Assert.That(c.Options.Port).IsEqualTo(8000);
        await Assert.That(c.Options.DrainTimeout).IsEqualTo(TimeSpan.FromSeconds(30));
        await Assert.That(c.Options.LogFormat).IsEqualTo(LogFormat.Text);
        await Assert.That(c.ConfigPath).IsNull();
        foreach (var o in ServeOptionTable.All)
            await Assert.That(c.SourceOf(o.Name)).IsEqualTo(OptionSource.Default);
    }

    [Test]
    public async Task Scalar_precedence_is_file_then_env_then_cli()
    {
        using var file = new TempFile("""{"max-batch-size": 2, "max-queue": 20, "port": 9001, "threads": 3}""");
        var env = new Dictionary<string, string> { ["ONNXLM_MAX_QUEUE"] = "30", ["ONNXLM_PORT"] = "9002" };
        var c = Load(file.Path, env, "--port", "9003");
        await Assert.That(c.Options.Threads).IsEqualTo(3);
        await Assert.That(c.SourceOf("threads")).IsEqualTo(OptionSource.File);
        await Assert.That(c.Options.MaxBatchSize).IsEqualTo(2);
        await Assert.That(c.Options.MaxQueue).IsEqualTo(30);
        await Assert.That(c.SourceOf("max-queue")).IsEqualTo(OptionSource.Env);
        await Assert.That(c.Options.Port).IsEqualTo(9003);
        await Assert.That(c.SourceOf("port")).IsEqualTo(OptionSource.Cli);
        await Assert.That(c.Options.PrefillStepSize).IsEqualTo(512);
        await Assert.That(c.SourceOf("prefill-step-size")).IsEqualTo(OptionSource.Default);
    }

    [Test]
    public async Task A_repeatable_option_comes_whole_from_the_highest_source_that_sets_it()
    {
        using var file = new TempFile("""{"api-key": ["file-1", "file-2"], "cors-origin": ["https://a.example", "https://b.example"]}""");
        var env = new Dictionary<string, string> { ["ONNXLM_API_KEY"] = "env-1, env-2" };

        var fileOnly = Load(file.Path, NoEnv);
        await Assert.That(fileOnly.Options.ApiKeys).IsEquivalentTo(["file-1", "file-2"]);

        var envOverFile = Load(file.Path, env);
        await Assert.That(envOverFile.Options.ApiKeys).IsEquivalentTo(["env-1", "env-2"]);
        // Not set by env or CLI: the file's list stays, whole.
        await Assert.That(envOverFile.Options.CorsOrigins).IsEquivalentTo(["https://a.example", "https://b.example"]);

        var cliOverAll = Load(file.Path, env, "--api-key", "cli-1", "--cors-origin", "*", "--api-key=cli-2");
        await Assert.That(cliOverAll.Options.ApiKeys).IsEquivalentTo(["cli-1", "cli-2"]);
        await Assert.That(cliOverAll.Options.CorsOrigins).IsEquivalentTo(["*"]);
        await Assert.That(cliOverAll.SourceOf("api-key")).IsEqualTo(OptionSource.Cli);
    }

    [Test]
    public async Task File_keys_may_be_kebab_or_snake_case_and_switches_take_booleans()
    {
        using var file = new TempFile("""
            {
              // comments and trailing commas are allowed in a hand-written file
              "max_batch_size": 4,
              "prefill-step-size": 64,
              "no_prefix_cache": true,
              "ssd-write-through": true,
              "kv_cache_memory": "512M",
              "max-request-bytes": 65536,
              "drain_timeout": 2.5,
              "log_format": "json",
              "cors-origin": "https://only.example",
            }
            """);
        var o = Load(file.Path, NoEnv).Options;
        await Assert.That(o.MaxBatchSize).IsEqualTo(4);
        await Assert.That(o.PrefillStepSize).IsEqualTo(64);
        await Assert.That(o.PrefixCache).IsFalse();
        await Assert.That(o.SsdWriteThrough).IsTrue();
        await Assert.That(o.KvCacheMemory).IsEqualTo(512L << 20);
        await Assert.That(o.MaxRequestBytes).IsEqualTo(65536);
        await Assert.That(o.DrainTimeout).IsEqualTo(TimeSpan.FromSeconds(2.5));
        await Assert.That(o.LogFormat).IsEqualTo(LogFormat.Json);
        await Assert.That(o.CorsOrigins).IsEquivalentTo(["https://only.example"]);
    }

    [Test]
    [Arguments("1", false)]
    [Arguments("true", false)]
    [Arguments("TRUE", false)]
    [Arguments("yes", false)]
    [Arguments("on", false)]
    [Arguments("0", true)]
    [Arguments("false", true)]
    [Arguments("off", true)]
    public async Task Environment_booleans_accept_the_usual_spellings(string value, bool prefixCache)
    {
        var o = Load(null, new() { ["ONNXLM_NO_PREFIX_CACHE"] = value }).Options;
        await Assert.That(o.PrefixCache).IsEqualTo(prefixCache);
    }

    [Test]
    public async Task An_environment_value_turns_a_file_switch_back_off()
    {
        using var file = new TempFile("""{"no-ssd-cache": true}""");
        var c = Load(file.Path, new() { ["ONNXLM_NO_SSD_CACHE"] = "0" });
        await Assert.That(c.Options.SsdCache).IsTrue();
        await Assert.That(c.SourceOf("no-ssd-cache")).IsEqualTo(OptionSource.Env);
    }

    [Test]
    [Arguments("2G", 2L << 30)]
    [Arguments("512m", 512L << 20)]
    [Arguments("64K", 64L << 10)]
    [Arguments("1T", 1L << 40)]
    [Arguments("123456", 123456L)]
    public async Task Environment_sizes_take_binary_suffixes(string value, long bytes)
    {
        var o = Load(null, new() { ["ONNXLM_KV_CACHE_MEMORY"] = value, ["ONNXLM_MAX_BATCH_SIZE"] = "16" }).Options;
        await Assert.That(o.KvCacheMemory).IsEqualTo(bytes);
        await Assert.That(o.MaxBatchSize).IsEqualTo(16);
    }

    [Test]
    public async Task An_empty_environment_variable_counts_as_unset()
    {
        using var file = new TempFile("""{"model": "/models/from-file", "api-key": "k"}""");
        var c = Load(file.Path, new() { ["ONNXLM_MODEL"] = "", ["ONNXLM_API_KEY"] = "" });
        await Assert.That(c.Options.Model).IsEqualTo("/models/from-file");
        await Assert.That(c.Options.ApiKeys).IsEquivalentTo(["k"]);
    }

    [Test]
    public async Task Unknown_file_key_names_the_key_and_the_file()
    {
        using var file = new TempFile("""{"port": 1, "max_batch": 4}""");
        string message = LoadError(file.Path, NoEnv);
        await Assert.That(message).Contains("\"max_batch\"");
        await Assert.That(message).Contains(file.Path);
    }

    [Test]
    public async Task Bad_file_value_names_the_key_as_written_the_file_and_the_value()
    {
        using var file = new TempFile("""{"max_batch_size": 0}""");
        string message = LoadError(file.Path, NoEnv);
        await Assert.That(message).IsEqualTo($"config file {file.Path}: \"max_batch_size\" must be an integer between 1 and 256 (got '0')");
    }

    [Test]
    public async Task Setting_one_option_under_both_spellings_in_a_file_is_an_error()
    {
        using var file = new TempFile("""{"max-batch-size": 2, "max_batch_size": 4}""");
        string message = LoadError(file.Path, NoEnv);
        await Assert.That(message).Contains("\"max_batch_size\" sets max-batch-size a second time");
    }

    [Test]
    public async Task A_file_value_of_the_wrong_json_type_is_refused()
    {
        using var file = new TempFile("""{"port": [8000]}""");
        string message = LoadError(file.Path, NoEnv);
        await Assert.That(message).Contains("\"port\"");
        await Assert.That(message).Contains("an array");
    }

    [Test]
    public async Task The_config_file_cannot_name_another_config_file()
    {
        using var file = new TempFile("""{"config": "/etc/other.json"}""");
        string message = LoadError(file.Path, NoEnv);
        await Assert.That(message).Contains("unknown key \"config\"");
    }

    [Test]
    public async Task Invalid_json_names_the_file()
    {
        using var file = new TempFile("""{"port": 8000""");
        string message = LoadError(file.Path, NoEnv);
        await Assert.That(message).Contains(file.Path);
        await Assert.That(message).Contains("not valid JSON");
    }

    [Test]
    public async Task Bad_environment_value_names_the_variable_and_the_value()
    {
        string message = LoadError(null, new() { ["ONNXLM_KV_CACHE_MEMORY"] = "lots" });
        await Assert.That(message).IsEqualTo("environment variable ONNXLM_KV_CACHE_MEMORY must be a byte count like 512M or 2G (got 'lots')");
    }

    [Test]
    public async Task Unknown_onnxlm_environment_variable_is_an_error_naming_it()
    {
        string message = LoadError(null, new() { ["ONNXLM_MAX_BATCH"] = "8", ["PATH"] = "/bin" });
        await Assert.That(message).Contains("ONNXLM_MAX_BATCH");
        await Assert.That(message).DoesNotContain("PATH");
    }

    [Test]
    public async Task Bad_cli_value_names_the_flag()
    {
        string message = LoadError(null, NoEnv, "--drain-timeout", "-1");
        await Assert.That(message).IsEqualTo("--drain-timeout must be a number of seconds between 0 and 86400 (got '-1')");
    }

    [Test]
    public async Task A_bad_api_key_value_is_refused_without_echoing_it()
    {
        using var file = new TempFile("""{"api-key": [""]}""");
        string message = LoadError(file.Path, NoEnv);
        await Assert.That(message).IsEqualTo($"config file {file.Path}: \"api-key\" must not be empty");
    }

    [Test]
    public async Task The_default_config_file_is_read_only_when_present()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"onnxlm-absent-{Guid.NewGuid():N}.json");
        await Assert.That(Load(missing, NoEnv).ConfigPath).IsNull();
        using var file = new TempFile("""{"port": 1234}""");
        var c = Load(file.Path, NoEnv);
        await Assert.That(c.ConfigPath).IsEqualTo(file.Path);
        await Assert.That(c.Options.Port).IsEqualTo(1234);
    }

    [Test]
    public async Task An_explicit_config_file_overrides_the_default_and_must_exist()
    {
        using var fallback = new TempFile("""{"port": 1111}""");
        using var chosen = new TempFile("""{"port": 2222}""");
        await Assert.That(Load(fallback.Path, NoEnv, "--config", chosen.Path).Options.Port).IsEqualTo(2222);
        await Assert.That(Load(fallback.Path, new() { ["ONNXLM_CONFIG"] = chosen.Path }).Options.Port).IsEqualTo(2222);
        string missing = Path.Combine(Path.GetTempPath(), $"onnxlm-absent-{Guid.NewGuid():N}.json");
        string message = LoadError(fallback.Path, NoEnv, "--config", missing);
        await Assert.That(message).Contains(missing);
        await Assert.That(message).Contains("does not exist");
    }

    [Test]
    public async Task Config_show_prints_values_and_sources_and_masks_api_keys()
    {
        using var file = new TempFile("""{"max_batch_size": 4, "api-key": ["file-secret"], "cors-origin": ["https://a.example"]}""");
        var env = new Dictionary<string, string> { ["ONNXLM_API_KEY"] = "env-secret-1,env-secret-2", ["ONNXLM_PORT"] = "9100" };
        var output = new StringWriter();
        int code = ConfigCommand.Run(["config", "show", "--config", file.Path, "--drain-timeout", "5"], output, env, null);
        await Assert.That(code).IsEqualTo(0);
        string text = output.ToString();
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string Line(string name) => lines.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        static string[] Cells(string line) => line.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        await Assert.That(lines[0]).IsEqualTo($"# config file: {file.Path}");
        await Assert.That(Cells(Line("max-batch-size"))).IsEquivalentTo(["max-batch-size", "4", "file"]);
        await Assert.That(Cells(Line("port"))).IsEquivalentTo(["port", "9100", "env ONNXLM_PORT"]);
        await Assert.That(Cells(Line("drain-timeout"))).IsEquivalentTo(["drain-timeout", "5", "cli"]);
        await Assert.That(Cells(Line("max-queue"))).IsEquivalentTo(["max-queue", "128", "default"]);
        await Assert.That(Cells(Line("api-key"))).IsEquivalentTo(["api-key", "***, ***", "env ONNXLM_API_KEY"]);
        await Assert.That(Cells(Line("config"))).IsEquivalentTo(["config", file.Path, "cli"]);
        await Assert.That(text).DoesNotContain("secret");
        // Every option of the table has its line.
        foreach (var o in ServeOptionTable.All) await Assert.That(Line(o.Name)).IsNotNull();
    }
}
