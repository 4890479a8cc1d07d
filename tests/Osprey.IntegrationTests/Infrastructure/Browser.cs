using Microsoft.Playwright;

namespace Osprey.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's chromium driven by Playwright (the package ships its driver; the browser is the system one, so
/// nothing is downloaded). Flags as this machine needs them: no sandbox as root, no background networking on a
/// closed network, and SwiftShader so that WebGL works without a GPU.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly string[] _extraArgs;
    private IPlaywright? _playwright;

    /// <summary>The shared browser of the chromium collection.</summary>
    public Browser()
        : this([])
    {
    }

    private Browser(IEnumerable<string> extraArgs)
    {
        _extraArgs = [.. extraArgs];
    }

    /// <summary>A browser of its own with more flags (e.g. one certificate trusted by its key's hash); call <see cref="InitializeAsync"/>.</summary>
    public static Browser WithArgs(params string[] extraArgs) => new(extraArgs);

    public IBrowser Instance { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: run ./test.sh, which installs Debian's chromium.");
        }

        _playwright = await Playwright.CreateAsync();
        Instance = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu-sandbox", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
                .. _extraArgs,
            ],
        });
    }

    public async Task DisposeAsync()
    {
        if (Instance is not null)
        {
            await Instance.CloseAsync();
        }

        _playwright?.Dispose();
    }
}
