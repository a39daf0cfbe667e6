using System.Net;
using System.Text.Json;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Http;

/// <summary>The two GET routes clients and load balancers call first.</summary>
[ClassDataSource<ServerFixture>(Shared = SharedType.PerTestSession)]
public class HealthAndModelsTests(ServerFixture fixture)
{
    [Test]
    public async Task Health_answers_200_with_json_status()
    {
        using var response = await fixture.Client.GetAsync("/health");
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        var body = await OpenAiWire.JsonBodyAsync(response);
        await Assert.That(body.GetProperty("status").GetString()).IsEqualTo("ok");
    }

    [Test]
    public async Task Models_lists_the_served_model_in_openai_shape()
    {
        using var response = await fixture.Client.GetAsync("/v1/models");
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        var body = await OpenAiWire.JsonBodyAsync(response);
        await Assert.That(body.GetProperty("object").GetString()).IsEqualTo("list");
        var data = body.GetProperty("data");
        await Assert.That(data.GetArrayLength()).IsEqualTo(1);
        var model = data[0];
        await Assert.That(model.GetProperty("id").GetString()).IsEqualTo(fixture.Server.Engine.ModelId);
        await Assert.That(model.GetProperty("id").GetString()).IsEqualTo(Path.GetFileName(fixture.ModelDir));
        await Assert.That(model.GetProperty("object").GetString()).IsEqualTo("model");
        await Assert.That(model.GetProperty("created").ValueKind).IsEqualTo(JsonValueKind.Number);
        long created = model.GetProperty("created").GetInt64();
        await Assert.That(Math.Abs(created - DateTimeOffset.UtcNow.ToUnixTimeSeconds())).IsLessThan(24 * 3600);
        await Assert.That(model.GetProperty("owned_by").GetString()).IsEqualTo("onnxlm");
    }
}
