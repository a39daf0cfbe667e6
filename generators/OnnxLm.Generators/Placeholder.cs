namespace OnnxLm.Generators
{
    internal static class GeneratorInfo
    {
        public const string Version = "0.1.0";
    }
}
