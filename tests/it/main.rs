mod blobs;
