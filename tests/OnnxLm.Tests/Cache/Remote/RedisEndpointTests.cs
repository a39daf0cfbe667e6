using OnnxLm.Cli;
using OnnxLm.Engine.Cache.Remote;

namespace OnnxLm.Tests.Cache.Remote;

/// <summary><see cref="RedisEndpoint"/> and <c>--remote-kv</c>: the URL forms, what is refused (exit 2 from the CLI,
/// naming the option), and that the password never shows.</summary>
public class RedisEndpointTests
{
    [Test]
    [Arguments("redis://10.0.0.5:6380", "10.0.0.5", 6380, null, 0)]
    [Arguments("redis://cache", "cache", 6379, null, 0)]
    [Arguments("redis://10.0.0.5:6380?password=s3cret&db=2", "10.0.0.5", 6380, "s3cret", 2)]
    [Arguments("redis://:p%40ss@host:7000/3", "host", 7000, "p@ss", 3)]
    public async Task Parses_the_documented_forms(string url, string host, int port, string? password, int db)
    {
        var e = RedisEndpoint.TryParse(url, out string? error);
        await Assert.That(error).IsNull();
        await Assert.That(e).IsEqualTo(new RedisEndpoint(host, port, password, db));
        if (password is not null) await Assert.That(e!.ToString()).DoesNotContain(password);
    }

    [Test]
    [Arguments("http://host:6379")]
    [Arguments("redis://host:6379?db=16")]
    [Arguments("redis://host:6379?dbx=1")]
    [Arguments("redis://host:6379/x")]
    [Arguments("host:6379")]
    public async Task Refuses_what_is_not_a_redis_url(string url)
    {
        await Assert.That(RedisEndpoint.TryParse(url, out string? error)).IsNull();
        await Assert.That(error).IsNotNull();
    }

    [Test]
    public async Task The_serve_option_sets_it_and_a_bad_value_is_a_usage_error_without_the_password()
    {
        var c = ServeConfig.Load(["--remote-kv", "redis://127.0.0.1:6390?password=hunter2"], 0, new Dictionary<string, string>(), null);
        await Assert.That(c.Options.RemoteKv).IsEqualTo(new RedisEndpoint("127.0.0.1", 6390, "hunter2", 0));
        await Assert.That(ServeConfig.Load([], 0, new Dictionary<string, string>(), null).Options.RemoteKv).IsNull();
        try
        {
            ServeConfig.Load(["--remote-kv", "redis://h:1?password=hunter2&db=99"], 0, new Dictionary<string, string>(), null);
            throw new InvalidOperationException("expected a UsageException");
        }
        catch (UsageException e)
        {
            await Assert.That(e.Message).Contains("--remote-kv");
            await Assert.That(e.Message).DoesNotContain("hunter2");
        }
    }
}
