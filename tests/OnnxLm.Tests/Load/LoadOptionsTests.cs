using OnnxLm.Load.Cli;
using OnnxLm.Load.Running;
using OnnxLm.Load.Workloads;

namespace OnnxLm.Tests.Load;

/// <summary>Command-line parsing: length distributions, arrival lists, loopback-only targets, and bad combinations
/// refused before anything runs.</summary>
public class LoadOptionsTests
{
    [Test]
    public async Task Length_spec_is_fixed_or_an_inclusive_uniform_range()
    {
        await Assert.That(LengthSpec.Parse("--x", "128")).IsEqualTo(LengthSpec.Fixed(128));
        var range = LengthSpec.Parse("--x", "4:6");
        var rng = new Random(3);
        var seen = new HashSet<int>();
        for (int i = 0; i < 200; i++) seen.Add(range.Sample(rng));
        await Assert.That(seen.SetEquals([4, 5, 6])).IsTrue();
        await Assert.That(() => LengthSpec.Parse("--x", "6:4")).Throws<FormatException>();
        await Assert.That(() => LengthSpec.Parse("--x", "0")).Throws<FormatException>();
    }

    [Test]
    public async Task Concurrency_and_rate_lists_become_one_run_each()
    {
        var o = LoadOptions.Parse(["--concurrency", "1,4,8"]);
        await Assert.That(o.Arrivals.Count).IsEqualTo(3);
        await Assert.That(o.Arrivals[2]).IsEqualTo(Arrival.Closed(8));
        var p = LoadOptions.Parse(["run", "--rate", "0.5,2"]);
        await Assert.That(p.Arrivals[0]).IsEqualTo(Arrival.Poisson(0.5));
        await Assert.That(() => LoadOptions.Parse(["--concurrency", "2", "--rate", "1"])).Throws<UsageException>();
    }

    [Test]
    [Arguments("http://127.0.0.1:8000")]
    [Arguments("http://localhost:9000/")]
    [Arguments("http://[::1]:8000")]
    public async Task Loopback_targets_are_allowed(string url)
    {
        await Assert.That(LoadOptions.Parse(["--url", url]).Url.Host).IsNotEmpty();
    }

    [Test]
    public async Task Remote_targets_need_allow_remote()
    {
        await Assert.That(() => LoadOptions.Parse(["--url", "http://192.168.1.5:8000"])).Throws<UsageException>();
        await Assert.That(() => LoadOptions.Parse(["--url", "http://example.com"])).Throws<UsageException>();
        await Assert.That(LoadOptions.Parse(["--url", "http://192.168.1.5:8000", "--allow-remote"]).AllowRemote).IsTrue();
    }

    [Test]
    public async Task Inconsistent_options_are_refused()
    {
        await Assert.That(() => LoadOptions.Parse(["--workload", "replay"])).Throws<UsageException>();
        await Assert.That(() => LoadOptions.Parse(["--workload", "multi-turn", "--prompt-tokens-exact"])).Throws<UsageException>();
        await Assert.That(() => LoadOptions.Parse(["compare", "--a-cmd", "x"])).Throws<UsageException>();
        await Assert.That(() => LoadOptions.Parse(["--bogus"])).Throws<UsageException>();
        await Assert.That(() => LoadOptions.Parse(["--requests", "0"])).Throws<UsageException>();
    }

    [Test]
    public async Task Default_limit_is_32_requests_and_duration_alone_is_unbounded_in_count()
    {
        var o = LoadOptions.Parse([]);
        await Assert.That(o.LimitsFor(o.CreateWorkload(1)).MaxRequests).IsEqualTo(32);
        var d = LoadOptions.Parse(["--duration", "5"]);
        var limits = d.LimitsFor(d.CreateWorkload(1));
        await Assert.That(limits.MaxRequests).IsEqualTo(int.MaxValue);
        await Assert.That(limits.Duration).IsEqualTo(TimeSpan.FromSeconds(5));
    }

    [Test]
    public async Task Response_formats_are_read_minified_and_chosen_per_compare_side()
    {
        string file = Path.Combine(Path.GetTempPath(), $"onnxlm-rf-{Guid.NewGuid():N}.json");
        string notObject = file + ".array.json";
        try
        {
            await File.WriteAllTextAsync(file, "{ \"type\": \"json_object\" }\n");
            await File.WriteAllTextAsync(notObject, "[1]");
            var run = LoadOptions.Parse(["run", "--response-format", file]);
            await Assert.That(run.RequestOptions.ResponseFormat).IsEqualTo("{\"type\":\"json_object\"}");
            var compare = LoadOptions.Parse(["compare", "--model", "/m", "--b-onnxlm", "--a-response-format", file]);
            await Assert.That(compare.BIsOnnxLm).IsTrue();
            await Assert.That(compare.RequestOptionsFor(a: true).ResponseFormat).IsEqualTo("{\"type\":\"json_object\"}");
            await Assert.That(compare.RequestOptionsFor(a: false).ResponseFormat).IsNull();
            await Assert.That(() => LoadOptions.Parse(["run", "--response-format", notObject])).Throws<UsageException>();
            await Assert.That(() => LoadOptions.Parse(["run", "--response-format", file + ".missing"])).Throws<UsageException>();
        }
        finally
        {
            File.Delete(file);
            File.Delete(notObject);
        }
    }
}
