// Runs before the first paint (a classic script in <head>) so a chosen theme never flashes.
try {
  const theme = localStorage.getItem("catcher.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  // storage unavailable: follow the system
}
