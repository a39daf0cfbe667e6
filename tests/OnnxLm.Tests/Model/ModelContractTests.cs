using Google.Protobuf;
using Onnx;
using OnnxLm.Engine;
using OnnxLm.Engine.Model;
using OnnxLm.Engine.Scheduling;
using OnnxLm.Tests.Fixtures;

namespace OnnxLm.Tests.Model;

/// <summary>Model folders that do not fit the contract are refused at load with a message naming what is wrong.</summary>
public class ModelContractTests
{
    static string CopyOfTiny()
    {
        string dir = Path.Combine(Path.GetTempPath(), "onnxlm-contract-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(TestModels.TinyFp32)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    static async Task<string> Refusal(string dir)
    {
        try
        {
            using var engine = EngineDriver.Start(dir);
        }
        catch (ModelFormatException e)
        {
            return e.Message;
        }
        throw new InvalidOperationException("the model was accepted");
    }

    [Test]
    public async Task The_tiny_model_fits_the_contract()
    {
        var c = ModelContract.Inspect(TestModels.TinyFp32);
        await Assert.That(c.Config.NumLayers).IsEqualTo(2);
        await Assert.That(c.Config.EosTokenIds.Length).IsEqualTo(2);
        await Assert.That(c.MaxPositions).IsEqualTo(512);
    }

    [Test]
    public async Task The_kv_element_type_is_read_from_the_graph_inputs_before_any_session()
    {
        // The memory plan sizes the KV rows before ONNX Runtime loads the model, so Inspect reads the type itself.
        await Assert.That(ModelContract.Inspect(TestModels.TinyFp32).KvElementSize).IsEqualTo(4);
        string dir = CopyOfTiny();
        try
        {
            string path = Path.Combine(dir, "model.onnx");
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            foreach (var input in model.Graph.Input)
                if (input.Name.StartsWith("past_key_values.", StringComparison.Ordinal)) input.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float16;
            File.WriteAllBytes(path, model.ToByteArray());
            var c = ModelContract.Inspect(dir);
            await Assert.That(c.KvType).IsEqualTo(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16);
            await Assert.That(c.KvElementSize).IsEqualTo(2);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task Missing_directory_is_refused() =>
        await Assert.That(await Refusal("/nonexistent/onnxlm-model")).Contains("/nonexistent/onnxlm-model");

    [Test]
    public async Task Missing_genai_config_is_refused()
    {
        string dir = CopyOfTiny();
        File.Delete(Path.Combine(dir, "genai_config.json"));
        await Assert.That(await Refusal(dir)).Contains("genai_config.json");
    }

    [Test]
    public async Task Corrupt_config_json_is_refused()
    {
        string dir = CopyOfTiny();
        File.WriteAllText(Path.Combine(dir, "genai_config.json"), "{ not json");
        await Assert.That(await Refusal(dir)).Contains("not valid JSON");
    }

    [Test]
    public async Task Corrupt_model_file_is_refused()
    {
        string dir = CopyOfTiny();
        var bytes = File.ReadAllBytes(Path.Combine(dir, "model.onnx"));
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), bytes[..(bytes.Length / 3)]);
        await Assert.That(await Refusal(dir)).Contains("model.onnx");
    }

    [Test]
    public async Task Unshared_past_present_buffer_is_refused()
    {
        string dir = CopyOfTiny();
        string path = Path.Combine(dir, "genai_config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"past_present_share_buffer\": true", "\"past_present_share_buffer\": false")
                                                    .Replace("\"past_present_share_buffer\":true", "\"past_present_share_buffer\":false"));
        await Assert.That(await Refusal(dir)).Contains("past_present_share_buffer");
    }

    [Test]
    public async Task Encoder_decoder_config_is_refused()
    {
        string dir = CopyOfTiny();
        string path = Path.Combine(dir, "genai_config.json");
        string json = File.ReadAllText(path);
        int at = json.IndexOf("\"decoder\"", StringComparison.Ordinal);
        File.WriteAllText(path, json[..at] + "\"encoder\": {\"filename\": \"encoder.onnx\"}, " + json[at..]);
        await Assert.That(await Refusal(dir)).Contains("encoder");
    }

    [Test]
    public async Task Graph_without_group_query_attention_is_refused()
    {
        string dir = CopyOfTiny();
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "mha" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.Graph.Node.Add(new NodeProto { OpType = "MultiHeadAttention", Domain = "com.microsoft", Name = "attn" });
        using (var f = File.Create(Path.Combine(dir, "model.onnx"))) model.WriteTo(f);
        string message = await Refusal(dir);
        await Assert.That(message).Contains("GroupQueryAttention");
        await Assert.That(message).Contains("MultiHeadAttention");
    }

    [Test]
    public async Task Config_that_disagrees_with_the_graph_is_refused()
    {
        string dir = CopyOfTiny();
        string path = Path.Combine(dir, "genai_config.json");
        string json = File.ReadAllText(path);
        File.WriteAllText(path, System.Text.RegularExpressions.Regex.Replace(json, "\"num_hidden_layers\":\\s*2", "\"num_hidden_layers\": 3"));
        await Assert.That(await Refusal(dir)).Contains("num_hidden_layers");
    }

    [Test]
    public async Task Context_length_beyond_the_model_is_refused()
    {
        await Assert.That(() => EngineDriver.Start(TestModels.TinyFp32, contextLength: 100_000)).Throws<ArgumentException>();
    }
}
