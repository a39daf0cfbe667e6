using Onnx;

namespace OnnxLm.Builder;

/// <summary>
/// Thin helpers over OnnxSharp's protobuf types for appending nodes, graph inputs/outputs and initializers.
/// Nodes are appended in topological order by construction (each node only reads names produced earlier).
/// </summary>
internal sealed class GraphBuilder
{
    public const string MicrosoftDomain = "com.microsoft";

    public GraphProto Graph { get; } = new() { Name = "decoder" };

    /// <summary>Appends a node whose single output is named after the node; returns that name.</summary>
    public string Node(string opType, string name, string[] inputs, string domain = "", params AttributeProto[] attributes)
    {
        Node(opType, name, inputs, [name], domain, attributes);
        return name;
    }

    public void Node(string opType, string name, string[] inputs, string[] outputs, string domain, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain };
        node.Input.Add(inputs);
        node.Output.Add(outputs);
        node.Attribute.Add(attributes);
        Graph.Node.Add(node);
    }

    public void Initializer(TensorProto tensor) => Graph.Initializer.Add(tensor);

    public void Input(string name, TensorProto.Types.DataType type, params TensorShapeProto.Types.Dimension[] dims) =>
        Graph.Input.Add(Value(name, type, dims));

    public void Output(string name, TensorProto.Types.DataType type, params TensorShapeProto.Types.Dimension[] dims) =>
        Graph.Output.Add(Value(name, type, dims));

    public static TensorShapeProto.Types.Dimension Dim(string symbol) => new() { DimParam = symbol };

    public static TensorShapeProto.Types.Dimension Dim(long size) => new() { DimValue = size };

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
