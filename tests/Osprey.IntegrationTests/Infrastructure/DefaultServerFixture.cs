namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>One osprey with no flags (the default test pattern feed 'test'), shared by a test class.</summary>
public sealed class DefaultServerFixture : IAsyncLifetime
{
    public OspreyProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await OspreyProcess.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
