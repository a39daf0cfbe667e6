using System.Net;
using System.Net.Http.Headers;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>
/// A server with --api-key (twice), --api-key-file, --metrics-require-key, --cors-origin and --served-model-name: keys in
/// both header styles, open probes, CORS preflights answered before authentication, and the served name as the only model.
/// </summary>
[ClassDataSource<SecuredServerFixture>(Shared = SharedType.PerClass)]
public sealed class ServerAccessTests(SecuredServerFixture fixture)
{
    const string Origin = SecuredServerFixture.Origin;
    const string Models = "/v1/models";

    Task<HttpClient> ClientAsync() => Task.FromResult(fixture.Client);

    static HttpRequestMessage Get(string path, string? bearer = null, string? apiKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (apiKey is not null) request.Headers.Add("api-key", apiKey);
        return request;
    }

    [Test]
    public async Task Missing_or_wrong_key_is_401_invalid_api_key()
    {
        var http = await ClientAsync();
        foreach (var request in new[] { Get(Models), Get(Models, bearer: "key-on"), Get(Models, bearer: "key-one-and-more"), Get(Models, apiKey: "nope") })
        {
            using var response = await http.SendAsync(request);
            await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
            var error = (await OpenAiWire.JsonBodyAsync(response)).GetProperty("error");
            await Assert.That(error.GetProperty("code").GetString()).IsEqualTo("invalid_api_key");
        }
        using var post = await http.SendAsync(OpenAiWire.Post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
        await Assert.That(post.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
    }

    [Test]
    [Arguments("bearer", "key-one")]
    [Arguments("bearer", "key-two")]
    [Arguments("bearer", "key-from-file")]
    [Arguments("api-key", "key-one")]
    [Arguments("api-key", "key-from-file")]
    public async Task Accepted_key_in_either_header_is_200(string header, string key)
    {
        var http = await ClientAsync();
        using var response = await http.SendAsync(header == "bearer" ? Get(Models, bearer: key) : Get(Models, apiKey: key));
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        var body = await OpenAiWire.JsonBodyAsync(response);
        await Assert.That(body.GetProperty("data")[0].GetProperty("id").GetString()).IsEqualTo("house-model");
    }

    [Test]
    public async Task Probes_stay_open_and_metrics_follow_the_flag()
    {
        var http = await ClientAsync();
        foreach (string path in new[] { "/health", "/livez", "/readyz" })
        {
            using var open = await http.GetAsync(path);
            await Assert.That(open.StatusCode).IsEqualTo(HttpStatusCode.OK);
        }
        using var metrics = await http.GetAsync("/metrics");
        await Assert.That(metrics.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        using var withKey = await http.SendAsync(Get("/metrics", bearer: "key-two"));
        await Assert.That(withKey.StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
    public async Task Served_model_name_is_the_only_model()
    {
        var http = await ClientAsync();
        using var byId = await http.SendAsync(Get("/v1/models/house-model", bearer: "key-one"));
        await Assert.That(byId.StatusCode).IsEqualTo(HttpStatusCode.OK);
        using var folderName = await http.SendAsync(Get("/v1/models/" + fixture.Server.Engine.ModelId, bearer: "key-one"));
        await Assert.That(folderName.StatusCode).IsEqualTo(HttpStatusCode.NotFound);

        foreach (var (model, status) in new[] { ("house-model", 200), (fixture.Server.Engine.ModelId, 404) })
        {
            using var request = OpenAiWire.Post("/v1/chat/completions", $"{{\"model\":{OpenAiWire.Json(model)},\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"max_tokens\":2}}");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "key-one");
            using var response = await http.SendAsync(request);
            await Assert.That((int)response.StatusCode).IsEqualTo(status);
            if (status == 200)
                await Assert.That((await OpenAiWire.JsonBodyAsync(response)).GetProperty("model").GetString()).IsEqualTo("house-model");
        }
    }

    [Test]
    public async Task Cors_preflight_is_answered_without_a_key_for_an_allowed_origin()
    {
        var http = await ClientAsync();
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", Origin);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        using var response = await http.SendAsync(preflight);
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.NoContent);
        await Assert.That(response.Headers.GetValues("Access-Control-Allow-Origin").Single()).IsEqualTo(Origin);
        await Assert.That(response.Headers.GetValues("Access-Control-Allow-Methods").Single()).Contains("POST");
        await Assert.That(response.Headers.GetValues("Access-Control-Allow-Headers").Single()).Contains("authorization");

        using var actual = Get(Models, bearer: "key-one");
        actual.Headers.Add("Origin", Origin);
        using var answered = await http.SendAsync(actual);
        await Assert.That(answered.Headers.GetValues("Access-Control-Allow-Origin").Single()).IsEqualTo(Origin);

        using var other = Get(Models, bearer: "key-one");
        other.Headers.Add("Origin", "http://evil.example");
        using var refused = await http.SendAsync(other);
        await Assert.That(refused.Headers.Contains("Access-Control-Allow-Origin")).IsFalse();
    }
}
