import { defineConfig } from 'vite';

// cornerstone3D: the DICOM image loader decodes in web workers that are ES modules and loads
// its codecs (WebAssembly) at run time, so neither goes through dependency pre-bundling.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    target: 'es2022',
    chunkSizeWarningLimit: 5000,
  },
  worker: {
    format: 'es',
  },
  optimizeDeps: {
    exclude: [
      '@cornerstonejs/dicom-image-loader',
      '@cornerstonejs/codec-charls',
      '@cornerstonejs/codec-libjpeg-turbo-8bit',
      '@cornerstonejs/codec-openjpeg',
      '@cornerstonejs/codec-openjph',
    ],
    include: ['dicom-parser'],
  },
  server: {
    // `npm run dev` against a local `mira serve`
    proxy: {
      '/api': 'http://127.0.0.1:8042',
      '/dicom-web': 'http://127.0.0.1:8042',
    },
  },
});
