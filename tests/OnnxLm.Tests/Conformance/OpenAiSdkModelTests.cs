using OnnxLm.Tests.Fixtures;
using OpenAI.Models;

namespace OnnxLm.Tests.Conformance;

/// <summary>The OpenAI .NET SDK's model client, which UIs call first to fill their model picker. (The SDK's legacy
/// completions client is internal in 2.15.0; /v1/completions is driven through the npm client instead.)</summary>
[ClassDataSource<ConformanceServerFixture>(Shared = SharedType.PerTestSession)]
public class OpenAiSdkModelTests(ConformanceServerFixture fixture)
{
    [Test]
    public async Task Model_client_lists_the_served_model()
    {
        var client = new OpenAIModelClient(SdkClients.DummyKey, SdkClients.Options(fixture.Server));
        OpenAIModelCollection models = await client.GetModelsAsync();
        await Assert.That(models.Count).IsEqualTo(1);
        await Assert.That(models[0].Id).IsEqualTo(fixture.Server.Engine.ModelId);
        await Assert.That(models[0].OwnedBy).IsEqualTo("onnxlm");
        await Assert.That(models[0].CreatedAt).IsGreaterThan(DateTimeOffset.UnixEpoch);
    }
}
